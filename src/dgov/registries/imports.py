"""Bulk import of a registry from CSV or JSON Lines: every row validated, all or nothing.

Two streaming passes keep memory bounded whatever the file's size: the first validates every row and
collects only the errors and the keys (to find duplicates inside the file and against the registry);
the second, only if nothing was wrong, parses the file again and writes it in batches inside one unit of
work, so a file is either wholly in the registry or not at all. The file's SHA-256 is taken in both
passes: a file that changes in between is refused rather than half-trusted.

CSV: the header names the fields, dotted for nested objects (`permanent_address.commune_code`); an empty
cell means the field is absent; integers, numbers and booleans are typed as the schema declares; arrays
(and whole objects) are written as JSON in their cell. Rows are numbered as a spreadsheet shows them
(the header is row 1); JSON Lines rows by their line number.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from sqlalchemy.exc import IntegrityError

from dgov.identity import Principal, require
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import Conflict, FieldError, ValidationFailed
from dgov.kernel.i18n import gettext
from dgov.registries import engine
from dgov.registries.definitions import Registry
from dgov.registries.definitions import registry as definition
from dgov.registries.engine import Provenance
from dgov.registries.service import RegistriesContext

Format = Literal["csv", "jsonl"]
FORMATS: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
BATCH = 2000  # rows per executemany: large enough to amortise round trips, small enough for SQLite
KEY_CHECK_BATCH = 1000
MAX_ERRORS = 10_000  # a whole file of bad rows should not fill memory: the rest are only counted
IMPORTED = "registries.records_imported"


@dataclass(frozen=True)
class RowError:
    """One problem in one row: `row` 0 is the file itself, `field` "" the whole row."""

    row: int
    field: str
    message: str  # translated for the current locale
    msgid: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass
class ImportReport:
    registry: str
    version: int
    fmt: Format
    file: str
    digest: str = ""
    rows: int = 0
    written: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_total: int = 0
    bad_rows: int = 0

    @property
    def ok(self) -> bool:
        return self.errors_total == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "version": self.version,
            "format": self.fmt,
            "file": self.file,
            "sha256": self.digest,
            "rows": self.rows,
            "written": self.written,
            "ok": self.ok,
            "bad_rows": self.bad_rows,
            "errors_total": self.errors_total,
            "errors": [
                {"row": e.row, "field": e.field, "message": e.message, "msgid": e.msgid} for e in self.errors
            ],
        }


class _Collector:
    """The report's errors, capped; `bad_rows` counts distinct rows even past the cap."""

    def __init__(self, report: ImportReport, max_errors: int) -> None:
        self.report = report
        self.max = max_errors
        self._last_bad_row = -1  # rows are reported in order, so a change of row is a new bad row

    def add(self, row: int, loc: tuple[str | int, ...] | str, msgid: str, **params: Any) -> None:
        report = self.report
        report.errors_total += 1
        if row != self._last_bad_row:
            report.bad_rows += 1
            self._last_bad_row = row
        if len(report.errors) < self.max:
            where = loc if isinstance(loc, str) else ".".join(str(p) for p in loc)
            report.errors.append(RowError(row, where, gettext(msgid, **params), msgid, params))


def format_of(path: Path, fmt: str | None) -> Format:
    if fmt in ("csv", "jsonl"):
        return fmt  # type: ignore[return-value]
    if fmt is None and path.suffix.lower() in FORMATS:
        return FORMATS[path.suffix.lower()]
    raise ValidationFailed(errors=[FieldError(("format",), "Name the file's format: csv or jsonl")])


# --- reading ---------------------------------------------------------------------------------------


class _Digesting(io.RawIOBase):
    """Hashes the bytes as the parser reads them, so the digest costs no extra pass over the file."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha.update(data)
        return n


@dataclass
class _Parsed:
    row: int
    data: dict[str, Any] | None  # None: nothing usable in the row
    errors: list[FieldError]


@dataclass
class _Source:
    """One pass over the file: rows as they are parsed, then the digest once exhausted."""

    path: Path
    fmt: Format
    reg: Registry
    digest: str = ""
    file_errors: list[tuple[int, FieldError]] = field(default_factory=list)  # (row, error); row 0: the file
    rows_seen: int = 0

    def rows(self) -> Iterator[_Parsed]:
        with self.path.open("rb") as raw:
            digesting = _Digesting(raw)
            text = io.TextIOWrapper(io.BufferedReader(digesting), encoding="utf-8-sig", newline="")
            try:
                if self.fmt == "csv":
                    yield from self._csv_rows(text)
                else:
                    yield from self._jsonl_rows(text)
            except UnicodeDecodeError:
                self.file_errors.append((0, FieldError((), "The file is not UTF-8 text")))
            except csv.Error as exc:
                reason = {"reason": str(exc)}
                self.file_errors.append((0, FieldError((), "The file is not valid CSV: {reason}", reason)))
            # Read what the parser left (after an error) so that the digest covers the whole file.
            while digesting.read(1 << 20):
                pass
            self.digest = digesting.sha.hexdigest()

    def _jsonl_rows(self, text: io.TextIOWrapper) -> Iterator[_Parsed]:
        for number, line in enumerate(text, start=1):
            if not line.strip():
                continue
            self.rows_seen += 1
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                yield _Parsed(number, None, [FieldError((), "This line is not valid JSON")])
                continue
            if not isinstance(data, dict):
                yield _Parsed(number, None, [FieldError((), "Each line must be one JSON object")])
                continue
            yield _Parsed(number, data, [])

    def _csv_rows(self, text: io.TextIOWrapper) -> Iterator[_Parsed]:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        columns, header_errors = _columns(self.reg, header)
        if header_errors:
            self.file_errors.extend((1, e) for e in header_errors)
            return
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue  # a blank line, as spreadsheets often leave at the end
            self.rows_seen += 1
            if len(cells) > len(columns):
                yield _Parsed(number, None, [FieldError((), "This row has more cells than the header")])
                continue
            yield _Parsed(number, *_csv_record(columns, cells))


# A column's field path and how its text becomes the value (None: it stays text).
Column = tuple[tuple[str, ...], Callable[[str], Any] | None]


def _csv_record(columns: list[Column], cells: list[str]) -> tuple[dict[str, Any], list[FieldError]]:
    """One CSV row as the record's data, and the cells that do not convert."""
    data: dict[str, Any] = {}
    errors: list[FieldError] = []
    for (path, convert), cell in zip(columns, cells, strict=False):
        if cell == "":
            continue  # an empty cell is an absent field
        value: Any = cell
        if convert is not None:
            try:
                value = convert(cell)
            except ValueError as exc:
                errors.append(FieldError(path, str(exc)))
                continue
        if len(path) == 1:
            data[path[0]] = value
        else:
            _put(data, path, value)
    return data, errors


def _columns(reg: Registry, header: list[str]) -> tuple[list[Column], list[FieldError]]:
    """Each column's field path and schema, and the header's errors."""
    errors: list[FieldError] = []
    out: list[Column] = []
    seen: set[str] = set()
    for name in header:
        name = name.strip()
        spec = _spec_at(reg.schema, name.split("."))
        if name in seen:
            errors.append(FieldError((name,), "This column appears twice in the header"))
        elif spec is None:
            errors.append(FieldError((name,), "This field is not part of the registry"))
        seen.add(name)
        out.append((tuple(name.split(".")), _CONVERTERS.get(_json_type(spec or {}) or "")))
    return out, errors


def _spec_at(schema: dict[str, Any], parts: list[str]) -> dict[str, Any] | None:
    spec: dict[str, Any] | None = schema
    for part in parts:
        if spec is None or not part:
            return None
        spec = spec.get("properties", {}).get(part)
    return spec


def _json_type(spec: dict[str, Any]) -> str | None:
    kind = spec.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None


def _integer(cell: str) -> int:
    try:
        return int(cell.strip())
    except ValueError:
        raise ValueError("Enter a whole number") from None


def _number(cell: str) -> int | float:
    try:
        return int(cell.strip())
    except ValueError:
        pass
    try:
        number = float(cell.strip())
    except ValueError:
        raise ValueError("Enter a number") from None
    if not math.isfinite(number):
        raise ValueError("Enter a number")
    return number


def _boolean(cell: str) -> bool:
    word = cell.strip().lower()
    if word in ("true", "1"):
        return True
    if word in ("false", "0"):
        return False
    raise ValueError("Enter true or false")


def _json(cell: str) -> Any:
    try:
        return json.loads(cell)
    except json.JSONDecodeError:
        raise ValueError("Write this value as JSON") from None


# A cell's text as the value the schema expects (the schema then checks the value itself); the
# ValueError's text is the msgid reported for the cell.
_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "array": _json,
    "object": _json,
}


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = data
    for part in path[:-1]:
        nested = target.get(part)
        if not isinstance(nested, dict):
            nested = target[part] = {}
        target = nested
    target[path[-1]] = value


# --- the use case ----------------------------------------------------------------------------------


async def import_file(
    ctx: RegistriesContext,
    actor: Principal,
    registry: str,
    path: Path,
    *,
    fmt: Format | None = None,
    prov: Provenance,
    max_errors: int = MAX_ERRORS,
) -> ImportReport:
    """Validate the whole file, then write all of it in one transaction, or nothing.

    Returns the report; `report.ok` is False when any row was bad (and then nothing was written)."""
    reg = definition(registry)
    require(actor, "registries.record.write", reg.name)
    kind = format_of(path, fmt)
    report = ImportReport(registry=reg.name, version=reg.version, fmt=kind, file=path.name)
    await _check(ctx, reg, _Source(path, kind, reg), report, _Collector(report, max_errors))
    if not report.ok or report.rows == 0:
        return report
    await _write(ctx, actor, reg, _Source(path, kind, reg), report, prov)
    return report


async def _check(
    ctx: RegistriesContext, reg: Registry, source: _Source, report: ImportReport, out: _Collector
) -> None:
    """Pass 1: every row's errors, keys repeated within the file, keys already in the registry.

    Rows wait in a small buffer until their keys have been looked up in the registry (in batches), so
    that the report still lists rows in order."""
    key_field = reg.key_field
    first_row: dict[str, int] = {}
    buffer: list[tuple[int, list[FieldError], str | None]] = []

    async def flush() -> None:
        keys = [key for _row, _errors, key in buffer if key is not None]
        present: set[str] = set()
        if keys:
            async with ctx.db.uow(readonly=True) as uow:
                present = await engine.keys_present(uow.session, reg.name, keys)
        for row, errors, key in buffer:
            if key in present:
                errors.append(_exists(reg, key_field, key or ""))
            for e in errors:
                out.add(row, e.loc, e.message, **e.params)
        buffer.clear()

    for parsed in source.rows():
        found, new_key = _row_errors(reg, parsed, first_row)
        buffer.append((parsed.row, found, new_key))
        if len(buffer) >= KEY_CHECK_BATCH:
            await flush()
    await flush()
    for row, e in source.file_errors:
        out.add(row, e.loc, e.message, **e.params)
    report.rows = source.rows_seen
    report.digest = source.digest


def _row_errors(
    reg: Registry, parsed: _Parsed, first_row: dict[str, int]
) -> tuple[list[FieldError], str | None]:
    """A row's errors (its own, the schema's, a key repeated in the file) and its key if it is new to
    the file (to be looked up in the registry); `first_row` remembers where each key was first seen."""
    found = list(parsed.errors)
    if parsed.data is None:
        return found, None
    key_field = reg.key_field
    bad = {e.loc for e in found}
    found += [e for e in reg.errors(parsed.data) if e.loc not in bad]
    key = parsed.data.get(key_field)
    if not isinstance(key, str) or any(e.loc[:1] == (key_field,) for e in found):
        return found, None
    if key in first_row:
        found.append(_repeated(key_field, key, first_row[key]))
        return found, None
    first_row[key] = parsed.row
    return found, key


def _exists(reg: Registry, key_field: str, key: str) -> FieldError:
    return FieldError(
        (key_field,),
        "A record with key {key} already exists in {registry}",
        {"key": key, "registry": reg.name},
    )


def _repeated(key_field: str, key: str, first: int) -> FieldError:
    return FieldError(
        (key_field,),
        "The key {key} is already used at row {first} of this file",
        {"key": key, "first": first},
    )


async def _write(
    ctx: RegistriesContext,
    actor: Principal,
    reg: Registry,
    source: _Source,
    report: ImportReport,
    prov: Provenance,
) -> None:
    """Pass 2: the same rows, written in batches, one commit with one audit record."""
    now = clock.now()
    written = 0
    async with ctx.db.uow() as uow:
        batch: list[dict[str, Any]] = []
        try:
            for parsed in source.rows():
                assert parsed.data is not None  # pass 1 found no bad row in the same bytes
                batch.append(engine.row_for(reg, parsed.data, prov, now))
                if len(batch) >= BATCH:
                    await engine.bulk_insert(uow.session, batch)
                    written += len(batch)
                    batch.clear()
            await engine.bulk_insert(uow.session, batch)
            written += len(batch)
        except IntegrityError:
            raise Conflict(
                "Records with the same keys were added while the file was imported; nothing was written"
            ) from None
        if source.digest != report.digest or written != report.rows:
            raise Conflict("The file changed while it was being imported; nothing was written")
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action=IMPORTED,
                object_type=reg.name,
                object_id=f"sha256:{report.digest}",
                legal_basis=prov.legal_basis or str(reg.meta.get("legal_basis") or "") or None,
                details={
                    "rows": written,
                    "file": report.file,
                    "format": report.fmt,
                    "schema_version": reg.version,
                    "reason": prov.reason or "",
                    "dossier": prov.dossier_code or "",
                },
            )
        )
        await uow.commit()
    report.written = written
