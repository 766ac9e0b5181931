"""Registries declared as data: `schemas/<registry>/v<N>.json`, a JSON Schema (2020-12) per version with
dgov's metadata under `x-dgov` (owner, key field, subject field, indexed fields, legal basis) and
field-level metadata (`x-personal`, `x-sensitive`, `x-authoritative`). Adding a registry or a schema
version is adding a file: no Python changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker

from dgov.identity import IdNumberError, validate_id_number
from dgov.kernel.errors import FieldError, NotFound
from dgov.kernel.text import text_errors

INDEX_FIELDS = ("name", "birth_date", "province", "commune")


@dataclass(frozen=True)
class Registry:
    name: str
    version: int
    schema: dict[str, Any]
    meta: dict[str, Any]
    _fast: Callable[[Any], Any] = field(repr=False, compare=False)
    _full: Draft202012Validator = field(repr=False, compare=False)

    @property
    def key_field(self) -> str:
        return str(self.meta["key"])

    @property
    def subject_field(self) -> str | None:
        value = self.meta.get("subject")
        return str(value) if value else None

    @property
    def owner(self) -> str:
        return str(self.meta.get("owner", {}).get("member", ""))

    def title(self, lang: str) -> str:
        titles = self.meta.get("title", {})
        return str(titles.get(lang) or titles.get("en") or self.name)

    def fields(self) -> dict[str, dict[str, Any]]:
        props: dict[str, dict[str, Any]] = self.schema.get("properties", {})
        return props

    def personal_fields(self) -> list[str]:
        return [k for k, v in self.fields().items() if v.get("x-personal")]

    def errors(self, data: Any) -> list[FieldError]:
        """Every problem with `data`, field by field (msgids; translated where shown)."""
        unstorable = text_errors(data)
        if unstorable:  # checked first: the schema's messages would quote the bad text back
            return unstorable
        try:
            self._fast(data)
        except fastjsonschema.JsonSchemaException:
            pass
        else:
            return self._id_number_errors(data)
        out = [_field_error(e) for e in self._full.iter_errors(data)]
        if isinstance(data, dict):
            seen = {e.loc for e in out}
            out += [e for e in self._id_number_errors(data) if e.loc not in seen]
        return out or [FieldError((), "This value is not valid")]

    def _id_number_errors(self, data: dict[str, Any]) -> list[FieldError]:
        out = []
        for name, spec in self.fields().items():
            value = data.get(name)
            if spec.get("x-id-number") and isinstance(value, str):
                try:
                    validate_id_number(value)
                except IdNumberError as exc:
                    out.append(FieldError((name,), exc.msgid))
        return out

    def get(self, data: dict[str, Any], path: str | None) -> Any:
        """A value by dotted path (`permanent_address.commune_code`)."""
        if not path:
            return None
        value: Any = data
        for part in path.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10  # fromisoformat also takes "20260101"; the registries store YYYY-MM-DD


def _missing_loc(error: Any) -> tuple[str, ...]:
    # "'x' is a required property" / "('x' was unexpected)": name the field, which has no path of its own.
    missing = re.findall(r"'([^']+)'", str(error.message))
    return (*tuple(error.absolute_path), missing[0]) if missing else tuple(error.absolute_path)


def _field_error(error: Any) -> FieldError:
    loc = _missing_loc(error) if error.validator in ("required", "additionalProperties") else ()
    return FieldError(loc or tuple(error.absolute_path), _message(error))


_MESSAGES = {
    "required": "This field is required",
    "pattern": "This value is not in the expected format",
    "enum": "Choose one of the allowed values",
    "const": "Choose one of the allowed values",
    "type": "This value has the wrong type",
    "format": "This value is not in the expected format",
    "maxLength": "This value is too long",
    "minLength": "This value is too short",
    "maximum": "This value is too large",
    "minimum": "This value is too small",
    "additionalProperties": "This field is not part of the registry",
}


def _message(error: Any) -> str:
    if error.validator == "format" and error.validator_value == "date":
        return "Enter a date as YYYY-MM-DD"
    return _MESSAGES.get(str(error.validator), "This value is not valid")


def _build(schema: dict[str, Any]) -> Registry:
    meta = schema["x-dgov"]
    fast = fastjsonschema.compile(schema, formats={"date": _is_date})
    full = Draft202012Validator(schema, format_checker=FormatChecker(formats=("date",)))
    return Registry(
        name=meta["registry"], version=int(meta["version"]), schema=schema, meta=meta, _fast=fast, _full=full
    )


@cache
def catalogue() -> dict[str, dict[int, Registry]]:
    """Every registry and version shipped with this build, read once."""
    root = resources.files("dgov.registries") / "schemas"
    found: dict[str, dict[int, Registry]] = {}
    for folder in sorted(root.iterdir(), key=lambda p: p.name):
        if not folder.is_dir():
            continue
        for file in sorted(folder.iterdir(), key=lambda p: p.name):
            if file.name.endswith(".json"):
                reg = _build(json.loads(file.read_text(encoding="utf-8")))
                if reg.name != folder.name or file.name != f"v{reg.version}.json":
                    raise ValueError(f"{folder.name}/{file.name} declares {reg.name} v{reg.version}")
                found.setdefault(reg.name, {})[reg.version] = reg
    return found


def registry(name: str, version: int | None = None) -> Registry:
    versions = catalogue().get(name)
    if not versions:
        raise NotFound("No registry named {name}", params={"name": name})
    if version is None:
        return versions[max(versions)]
    if version not in versions:
        raise NotFound("Registry {name} has no version {version}", params={"name": name, "version": version})
    return versions[version]
