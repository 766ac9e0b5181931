"""The catalogue of procedures: one JSON file per procedure in `procedures/`, checked against the format
schema and against itself (every form field labelled, every prefill path a field of the form) at load.

A procedure is data, not code, so a new one is a reviewed file, never an upload.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from typing import Any

import jsonschema

from dgov.kernel.errors import NotFound

FIELDS = (
    "civil_status",
    "residence",
    "health_insurance",
    "social_insurance",
    "business",
    "judicial",
    "construction",
)
LEVELS = ("full", "partial")


class CatalogueError(ValueError):
    """A procedure file is not valid: names the file and what is wrong."""


@dataclass(frozen=True)
class FormField:
    path: str  # "section.name"
    section: str
    name: str
    schema: dict[str, Any]
    ui: dict[str, Any]
    required: bool

    @property
    def widget(self) -> str:
        explicit = self.ui.get("widget")
        if explicit:
            return str(explicit)
        if "enum" in self.schema:
            return "select"
        if self.schema.get("format") == "date":
            return "date"
        return "text"

    @property
    def options(self) -> list[str]:
        return [str(v) for v in self.schema.get("enum", [])]


@dataclass(frozen=True)
class Procedure:
    raw: dict[str, Any]
    digest: str
    fields: tuple[FormField, ...] = field(default=())

    @property
    def id(self) -> str:
        return str(self.raw["id"])

    @property
    def code(self) -> str:
        return str(self.raw["code"])

    def name(self, lang: str) -> str:
        return text(self.raw["name"], lang)

    @property
    def agency(self) -> dict[str, Any]:
        return dict(self.raw["agency"])

    @property
    def field_name(self) -> str:
        return str(self.raw["field"])

    @property
    def level(self) -> str:
        return str(self.raw["level"])

    @property
    def deadline_days(self) -> int:
        return int(self.raw["deadline_days"])

    @property
    def process(self) -> str:
        return str(self.raw["process"])

    @property
    def branches(self) -> list[dict[str, Any]]:
        return list(self.raw.get("branches", []))

    @property
    def is_bundle(self) -> bool:
        return bool(self.raw.get("branches"))

    @property
    def documents(self) -> list[dict[str, Any]]:
        return list(self.raw["documents"])

    @property
    def prefill(self) -> list[dict[str, Any]]:
        return list(self.raw["form"].get("prefill", []))

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self.raw["form"].get("defaults", {}))

    @property
    def form_schema(self) -> dict[str, Any]:
        return dict(self.raw["form"]["schema"])

    @property
    def sections(self) -> list[str]:
        return list(self.raw["form"]["ui"]["order"])

    def section_title(self, section: str, lang: str) -> str:
        return text(self.raw["form"]["ui"]["sections"][section], lang)

    def agencies(self) -> set[str]:
        """Member codes of every agency that handles a part of this procedure."""
        return {self.raw["agency"]["member"], *(b["agency"]["member"] for b in self.branches)}

    def field(self, path: str) -> FormField:
        for f in self.fields:
            if f.path == path:
                return f
        raise KeyError(path)

    def search_text(self) -> str:
        parts = [self.raw["name"]["vi"], self.raw["name"]["en"], self.code, self.id]
        return fold(" ".join(parts))


def text(value: dict[str, str], lang: str) -> str:
    return value.get(lang) or value["vi"]


def fold(s: str) -> str:
    """Lower case without diacritics, so "khai sinh" finds "Khai sinh" and "khai sinh" finds "khái sính"."""
    decomposed = unicodedata.normalize("NFD", s.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _format_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((files("dgov.eservices") / "procedure.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _fields_of(raw: dict[str, Any], where: str) -> tuple[FormField, ...]:
    schema = raw["form"]["schema"]
    ui = raw["form"]["ui"]
    sections = schema["properties"]
    if list(ui["order"]) != list(sections):
        raise CatalogueError(f"{where}: form.ui.order must list the schema's sections in order")
    out: list[FormField] = []
    for section, sub in sections.items():
        if sub.get("type") != "object" or "properties" not in sub:
            raise CatalogueError(f"{where}: section {section!r} must be an object with properties")
        if section not in ui["sections"]:
            raise CatalogueError(f"{where}: section {section!r} has no title in form.ui.sections")
        required = set(sub.get("required", []))
        for name, prop in sub["properties"].items():
            path = f"{section}.{name}"
            hints = ui["fields"].get(path)
            if hints is None:
                raise CatalogueError(f"{where}: field {path!r} has no label in form.ui.fields")
            for value in hints.get("options", {}):
                if value not in prop.get("enum", []):
                    raise CatalogueError(
                        f"{where}: {path!r} labels option {value!r} that the schema does not allow"
                    )
            out.append(FormField(path, section, name, prop, hints, name in required))
    extra = set(ui["fields"]) - {f.path for f in out}
    if extra:
        raise CatalogueError(f"{where}: form.ui.fields names unknown fields {sorted(extra)}")
    return tuple(out)


def parse(raw: dict[str, Any], where: str) -> Procedure:
    errors = sorted(_format_validator().iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        pointer = "/" + "/".join(str(p) for p in e.absolute_path)
        raise CatalogueError(f"{where}: {pointer}: {e.message}")
    try:
        jsonschema.Draft202012Validator.check_schema(raw["form"]["schema"])
    except jsonschema.SchemaError as exc:
        raise CatalogueError(f"{where}: form.schema is not a valid JSON Schema: {exc.message}") from exc
    fields = _fields_of(raw, where)
    paths = {f.path for f in fields}
    for rule in raw["form"].get("prefill", []):
        if rule["path"] not in paths:
            raise CatalogueError(f"{where}: prefill path {rule['path']!r} is not a field of the form")
    for path in raw["form"].get("defaults", {}):
        if path not in paths:
            raise CatalogueError(f"{where}: default for {path!r}, which is not a field of the form")
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return Procedure(raw=raw, digest=digest, fields=fields)


def load_files(named: Iterable[tuple[str, str]]) -> dict[str, Procedure]:
    """`named` gives (file name, JSON text) pairs; returns procedures by id, cross-checked."""
    found: dict[str, Procedure] = {}
    for filename, body in named:
        try:
            raw = json.loads(body)
        except json.JSONDecodeError as exc:
            raise CatalogueError(f"{filename}: not JSON: {exc}") from exc
        proc = parse(raw, filename)
        if f"{proc.id}.json" != filename:
            raise CatalogueError(f"{filename}: the id {proc.id!r} must match the file name")
        found[proc.id] = proc
    for proc in found.values():
        for branch in proc.branches:
            if branch["procedure"] not in found:
                key, name = branch["key"], branch["procedure"]
                raise CatalogueError(f"{proc.id}.json: branch {key!r} names unknown procedure {name!r}")
    return found


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Procedure]:
    folder = files("dgov.eservices") / "procedures"
    items = sorted(
        (p.name, p.read_text(encoding="utf-8")) for p in folder.iterdir() if p.name.endswith(".json")
    )
    return load_files(items)


def procedure(procedure_id: str) -> Procedure:

    proc = catalogue().get(procedure_id)
    if proc is None:
        raise NotFound("No procedure {id}", params={"id": procedure_id})
    return proc


def search(q: str = "", *, field_name: str = "", agency: str = "", level: str = "") -> list[Procedure]:
    words = fold(q).split()
    out = []
    for proc in catalogue().values():
        if field_name and proc.field_name != field_name:
            continue
        if agency and agency not in proc.agencies():
            continue
        if level and proc.level != level:
            continue
        hay = proc.search_text()
        if all(w in hay for w in words):
            out.append(proc)
    return sorted(out, key=lambda p: (not p.is_bundle, fold(p.raw["name"]["vi"])))


def typed_fields(proc: Procedure) -> list[str]:
    """The fields the citizen must type: neither prefilled from a registry nor given a default."""
    known = {r["path"] for r in proc.prefill} | set(proc.defaults)
    return [f.path for f in proc.fields if f.path not in known]


def as_json(proc: Procedure) -> dict[str, Any]:
    """The stable summary `dgov eservices list --json` prints for each procedure."""
    raw = proc.raw
    return {
        "id": proc.id,
        "code": proc.code,
        "name": raw["name"],
        "agency": {
            "member": raw["agency"]["member"],
            "level": raw["agency"]["level"],
            "code": raw["agency"]["code"],
        },
        "field": proc.field_name,
        "level": proc.level,
        "fee": raw["fee"]["amount"],
        "deadline_days": proc.deadline_days,
        "process": proc.process,
        "branches": [
            {"key": b["key"], "procedure": b["procedure"], "agency": b["agency"]["member"]}
            for b in proc.branches
        ],
        "documents": [d["id"] for d in proc.documents],
        "legal_basis": [b["ref"] for b in raw["legal_basis"]],
        "typed_fields": len(typed_fields(proc)),
    }
