"""The registry engine: versioned records, never overwritten, readable as of any instant.

Core SQL on the typed tables (no ORM on these paths): point reads, searches and bulk loads are the
hot paths of a national registry. Functions take the unit of work's session and never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dgov.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.registries.definitions import Registry
from dgov.registries.models import records, versions
from dgov.registries.normalize import fold


@dataclass(frozen=True)
class Provenance:
    """Who changed a record, why, and on what authority."""

    actor: str
    reason: str | None = None
    legal_basis: str | None = None
    dossier_code: str | None = None


@dataclass(frozen=True)
class RecordView:
    registry: str
    key: str
    version: int
    schema_version: int
    data: dict[str, Any]
    deleted: bool
    valid_from: datetime
    valid_to: datetime | None
    changed_by: str
    reason: str | None
    legal_basis: str | None
    dossier_code: str | None
    subject_id: str | None = None
    # The record's administrative unit as indexed now (every version shows the current one): what an
    # official's unit is compared with (rules.Reach.covers).
    province_code: str | None = None
    commune_code: str | None = None


def _date(value: Any) -> date | None:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def columns_for(reg: Registry, data: dict[str, Any]) -> dict[str, Any]:
    """The searchable columns the registry declares, extracted from the record's data."""
    index = reg.meta.get("index", {})
    name = reg.get(data, index.get("name"))
    born = _date(reg.get(data, index.get("birth_date")))
    province = reg.get(data, index.get("province"))
    commune = reg.get(data, index.get("commune"))
    subject = reg.get(data, reg.subject_field)
    return {
        "subject_id": str(subject) if subject else None,
        "name_norm": fold(name)[:200] if isinstance(name, str) else None,
        "birth_date": born,
        "birth_year": born.year if born else None,
        "province_code": str(province) if province else None,
        "commune_code": str(commune) if commune else None,
    }


def validate(reg: Registry, data: Any) -> dict[str, Any]:
    errors = reg.errors(data)
    if errors:
        raise ValidationFailed(errors=errors)
    assert isinstance(data, dict)
    return data


def diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    """Field-by-field changes as {dotted.path: [old, new]}."""
    out: dict[str, list[Any]] = {}
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        path = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(diff(a, b, path + "."))
        elif a != b:
            out[path] = [a, b]
    return out


def row_for(reg: Registry, data: dict[str, Any], prov: Provenance, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "registry": reg.name,
        "key": str(data[reg.key_field]),
        "version": 1,
        "schema_version": reg.version,
        "data": data,
        "deleted": False,
        "valid_from": now,
        "changed_by": prov.actor,
        "reason": prov.reason,
        "legal_basis": prov.legal_basis,
        "dossier_code": prov.dossier_code,
        "created_at": now,
        **columns_for(reg, data),
    }


async def create(
    session: AsyncSession, reg: Registry, data: Any, prov: Provenance, now: datetime
) -> RecordView:
    data = validate(reg, data)
    key = str(data[reg.key_field])
    if await _current_id(session, reg.name, key) is not None:
        raise Conflict(
            "A record with key {key} already exists in {registry}", params={"key": key, "registry": reg.name}
        )
    row = row_for(reg, data, prov, now)
    await session.execute(insert(records), [row])
    return _view(row)


async def bulk_insert(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Rows from `row_for`, already validated, in one executemany (imports and the generator)."""
    if rows:
        await session.execute(insert(records), list(rows))


async def _current_id(session: AsyncSession, registry: str, key: str) -> uuid.UUID | None:
    found = await session.scalar(
        select(records.c.id).where(records.c.registry == registry, records.c.key == key)
    )
    return found


async def _current_row(session: AsyncSession, registry: str, key: str, *, lock: bool = False) -> Any:
    query = select(records).where(records.c.registry == registry, records.c.key == key)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def replace(
    session: AsyncSession,
    reg: Registry,
    key: str,
    data: Any,
    prov: Provenance,
    now: datetime,
    *,
    deleted: bool = False,
) -> tuple[RecordView, dict[str, list[Any]]]:
    """Write a new version; the current one moves to the history with its validity interval closed."""
    data = validate(reg, data)
    if str(data[reg.key_field]) != key:
        raise ValidationFailed(errors=[_key_changed(reg)])
    cur = await _current_row(session, reg.name, key, lock=True)
    if cur is None:
        raise NotFound("No record with key {key} in {registry}", params={"key": key, "registry": reg.name})
    changes = diff(cur.data, data)
    if not changes and cur.deleted == deleted:
        return _view(cur._asdict()), {}
    await session.execute(
        insert(versions),
        [
            {
                "record_id": cur.id,
                "version": cur.version,
                "schema_version": cur.schema_version,
                "data": cur.data,
                "deleted": cur.deleted,
                "valid_from": cur.valid_from,
                "valid_to": now,
                "changed_by": cur.changed_by,
                "reason": cur.reason,
                "legal_basis": cur.legal_basis,
                "dossier_code": cur.dossier_code,
            }
        ],
    )
    values = {
        "version": cur.version + 1,
        "schema_version": reg.version,
        "data": data,
        "deleted": deleted,
        "valid_from": now,
        "changed_by": prov.actor,
        "reason": prov.reason,
        "legal_basis": prov.legal_basis,
        "dossier_code": prov.dossier_code,
        **columns_for(reg, data),
    }
    await session.execute(update(records).where(records.c.id == cur.id).values(**values))
    return _view({**cur._asdict(), **values}), changes


def _key_changed(reg: Registry) -> FieldError:
    return FieldError((reg.key_field,), "The record's key cannot be changed")


async def read(
    session: AsyncSession, registry: str, key: str, *, as_of: datetime | None = None
) -> RecordView | None:
    cur = await _current_row(session, registry, key)
    if cur is None:
        return None
    if as_of is None or cur.valid_from <= as_of:
        return _view(cur._asdict())
    old = (
        await session.execute(
            select(versions).where(
                versions.c.record_id == cur.id, versions.c.valid_from <= as_of, versions.c.valid_to > as_of
            )
        )
    ).first()
    if old is None:
        return None  # the record did not exist yet at that instant
    return _version_view(registry, key, old._asdict(), cur)


async def history(session: AsyncSession, registry: str, key: str) -> list[RecordView]:
    """Every version, newest first."""
    cur = await _current_row(session, registry, key)
    if cur is None:
        return []
    rows = (
        await session.execute(
            select(versions).where(versions.c.record_id == cur.id).order_by(versions.c.version.desc())
        )
    ).all()
    return [_view(cur._asdict()), *(_version_view(registry, key, r._asdict(), cur) for r in rows)]


async def search(
    session: AsyncSession,
    registry: str,
    *,
    key: str | None = None,
    name: str | None = None,
    birth_date: date | None = None,
    birth_year: int | None = None,
    province: str | None = None,
    commune: str | None = None,
    within: Iterable[str] | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[RecordView]:
    """Exact key, or a folded name (exact, or a prefix ending in `*`) narrowed by birth date/year and
    place. Every form is served by the index (registry, name_norm, birth_year, key), in its order.

    A name must have at least `MIN_SYLLABLES` whole syllables: `*` alone or one syllable would page
    through a whole registry. `within` (unit codes: 2-digit provinces, 5-digit communes) keeps only the
    records of those units; None means everywhere."""
    conds: list[Any] = [records.c.registry == registry, records.c.deleted.is_(False)]
    if key:
        conds.append(records.c.key == key)
    if name and not key and whole_syllables(name) < MIN_SYLLABLES:
        raise ValidationFailed(errors=[_name_too_short()])
    if within is not None:
        units = set(within)
        provinces = sorted(u for u in units if len(u) == 2)
        communes = sorted(u for u in units if len(u) != 2)
        conds.append(or_(records.c.province_code.in_(provinces), records.c.commune_code.in_(communes)))
    if name:
        folded = fold(name)
        if folded.endswith("*"):
            stem = folded.rstrip("*").strip()
            # A range rather than LIKE: both databases use the B-tree for it, whatever the collation.
            conds.append(and_(records.c.name_norm >= stem, records.c.name_norm < stem + "\uffff"))
        else:
            conds.append(records.c.name_norm == folded)
    if birth_date:
        conds.append(records.c.birth_date == birth_date)
    if birth_year:
        conds.append(records.c.birth_year == birth_year)
    if province:
        conds.append(records.c.province_code == province)
    if commune:
        conds.append(records.c.commune_code == commune)
    if not (key or name):
        raise ValidationFailed(errors=[_needs_name()])
    query = (
        select(records)
        .where(*conds)
        # Exactly the name index's column order, so neither database sorts (and SQLite does not prefer
        # walking the (registry, key) index to avoid a sort, scanning the whole registry).
        .order_by(records.c.name_norm, records.c.birth_year, records.c.key)
        .limit(limit)
        .offset(offset)
    )
    return [_view(r._asdict()) for r in (await session.execute(query)).all()]


def _needs_name() -> FieldError:
    return FieldError(("name",), "Search by ID number or by name")


MIN_SYLLABLES = 2


def whole_syllables(name: str) -> int:
    """The syllables (words) of a searched name, `*` aside: "nguyen van*" has two, "*" none."""
    return sum(1 for w in fold(name).replace("*", " ").split() if any(ch.isalnum() for ch in w))


def _name_too_short() -> FieldError:
    return FieldError(
        ("name",),
        "Enter at least the family name and the given name (two words or more), or search by ID number",
    )


async def records_of_subject(session: AsyncSession, subject_id: str) -> list[RecordView]:
    rows = (
        await session.execute(
            select(records)
            .where(records.c.subject_id == subject_id, records.c.deleted.is_(False))
            .order_by(records.c.registry)
        )
    ).all()
    return [_view(r._asdict()) for r in rows]


async def keys_present(session: AsyncSession, registry: str, keys: Iterable[str]) -> set[str]:
    keys = list(keys)
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        rows = await session.scalars(
            select(records.c.key).where(records.c.registry == registry, records.c.key.in_(chunk))
        )
        found.update(rows)
    return found


def _view(r: dict[str, Any]) -> RecordView:
    return RecordView(
        registry=r["registry"],
        key=r["key"],
        version=r["version"],
        schema_version=r["schema_version"],
        data=r["data"],
        deleted=r["deleted"],
        valid_from=r["valid_from"],
        valid_to=None,
        changed_by=r["changed_by"],
        reason=r["reason"],
        legal_basis=r["legal_basis"],
        dossier_code=r["dossier_code"],
        subject_id=r.get("subject_id"),
        province_code=r.get("province_code"),
        commune_code=r.get("commune_code"),
    )


def _version_view(registry: str, key: str, r: dict[str, Any], cur: Any) -> RecordView:
    return RecordView(
        registry=registry,
        key=key,
        version=r["version"],
        schema_version=r["schema_version"],
        data=r["data"],
        deleted=r["deleted"],
        valid_from=r["valid_from"],
        valid_to=r["valid_to"],
        changed_by=r["changed_by"],
        reason=r["reason"],
        legal_basis=r["legal_basis"],
        dossier_code=r["dossier_code"],
        subject_id=cur.subject_id,
        province_code=cur.province_code,
        commune_code=cur.commune_code,
    )
