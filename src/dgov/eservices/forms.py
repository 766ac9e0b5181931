"""Forms from a procedure's JSON Schema and UI hints: what to show, how to read a post, how to check it.

The browser never decides what a read-only (registry-given) value is: `authoritative` puts the stored
prefill back over whatever came in, so a tampered hidden or read-only input changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jsonschema

from dgov.eservices.catalogue import FormField, Procedure, text
from dgov.kernel.errors import FieldError
from dgov.kernel.i18n import gettext as _

MAX_TEXT = 2000  # no form field of any procedure needs more; longer posts are refused, not truncated


def N_(message: str) -> str:
    """Marks a msgid for extraction; translated where it is shown."""
    return message


def field_id(path: str) -> str:
    """An HTML id that is also a plain CSS selector (no dots)."""
    return "f-" + path.replace(".", "-")


@dataclass
class FieldView:
    path: str
    id: str
    label: str
    hint: str | None
    widget: str
    options: list[tuple[str, str]]
    value: str
    required: bool
    readonly: bool
    source: dict[str, Any] | None
    error: str | None = None


@dataclass
class SectionView:
    key: str
    title: str
    fields: list[FieldView] = field(default_factory=list)


def get_path(data: Mapping[str, Any], path: str) -> Any:
    section, name = path.split(".", 1)
    sub = data.get(section)
    return sub.get(name) if isinstance(sub, Mapping) else None


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    section, name = path.split(".", 1)
    data.setdefault(section, {})[name] = value


def initial(proc: Procedure, prefill_values: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {s: {} for s in proc.sections}
    for path, value in proc.defaults.items():
        set_path(data, path, value)
    for path, value in prefill_values.items():
        set_path(data, path, value)
    return data


def _convert(f: FormField, raw: str) -> Any:
    kind = f.schema.get("type")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    if kind == "number":
        try:
            return float(raw.replace(",", "."))
        except ValueError:
            return raw
    return raw


def from_post(proc: Procedure, form: Mapping[str, str]) -> dict[str, Any]:
    """The dossier data from a posted form (field names are dotted paths); empty inputs are absent."""
    data: dict[str, Any] = {s: {} for s in proc.sections}
    for f in proc.fields:
        raw = form.get(f.path)
        if raw is None:
            continue
        raw = raw.strip()
        if raw:
            set_path(data, f.path, _convert(f, raw))
    return data


def authoritative(data: dict[str, Any], stored: Mapping[str, Any], readonly: set[str]) -> dict[str, Any]:
    """`data` with every read-only path set back to the stored registry value."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for path in readonly:
        if path in stored:
            set_path(out, path, stored[path])
    return out


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> jsonschema.Draft202012Validator:

    return jsonschema.Draft202012Validator(json.loads(schema_json), format_checker=jsonschema.FormatChecker())


def _message(err: jsonschema.ValidationError) -> str:
    kind = err.validator
    if kind == "required":
        return N_("This field is required")
    if kind == "enum":
        return N_("Choose one of the options")
    if kind == "format" and err.validator_value == "date":
        return N_("Enter a real date (day, month and year)")
    if kind == "type" and err.validator_value in ("integer", "number"):
        return N_("Enter a number")
    if kind in ("minimum", "exclusiveMinimum"):
        return N_("The number is too small")
    if kind == "maximum":
        return N_("The number is too large")
    if kind == "maxLength":
        return N_("This is too long")
    if kind == "minLength":
        return N_("This field is required")
    if kind == "pattern":
        return N_("This is not in the expected format")
    return N_("This value is not valid")


def validate(proc: Procedure, data: Mapping[str, Any]) -> list[FieldError]:
    """Field errors in the form's order; an empty list when the data fits the procedure's schema."""

    schema = proc.form_schema
    v = _validator(json.dumps(schema, sort_keys=True))
    found: dict[str, str] = {}
    for err in v.iter_errors(data):
        loc = [str(p) for p in err.absolute_path]
        if err.validator == "required":
            missing = [
                n for n in err.validator_value if not isinstance(err.instance, dict) or n not in err.instance
            ]
            for name in missing:
                if not loc:  # a whole section missing: report its required fields
                    sub = schema["properties"].get(name, {})
                    for inner in sub.get("required", []):
                        found.setdefault(f"{name}.{inner}", N_("This field is required"))
                else:
                    found.setdefault(".".join([*loc, name]), N_("This field is required"))
            continue
        if len(loc) >= 2:
            found.setdefault(".".join(loc[:2]), _message(err))
    for f in proc.fields:
        value = get_path(data, f.path)
        if isinstance(value, str) and len(value) > MAX_TEXT:
            found.setdefault(f.path, N_("This is too long"))
    order = {f.path: i for i, f in enumerate(proc.fields)}
    return [
        FieldError(tuple(p.split(".")), m)
        for p, m in sorted(found.items(), key=lambda kv: order.get(kv[0], 1 << 30))
    ]


def errors_by_path(errors: list[FieldError]) -> dict[str, str]:
    return {".".join(str(x) for x in e.loc): _(e.message, **e.params) for e in errors}


def view(
    proc: Procedure,
    data: Mapping[str, Any],
    *,
    sources: Mapping[str, Mapping[str, Any]],
    errors: Mapping[str, str],
    lang: str,
) -> list[SectionView]:
    sections = {s: SectionView(s, proc.section_title(s, lang)) for s in proc.sections}
    for f in proc.fields:
        src = sources.get(f.path)
        value = get_path(data, f.path)
        hint = f.ui.get("hint")
        sections[f.section].fields.append(
            FieldView(
                path=f.path,
                id=field_id(f.path),
                label=text(f.ui["label"], lang),
                hint=text(hint, lang) if hint else None,
                widget=f.widget,
                options=[(o, text(f.ui.get("options", {}).get(o, {"vi": o}), lang)) for o in f.options],
                value="" if value is None else str(value),
                required=f.required,
                readonly=bool(src and src.get("mode") == "readonly"),
                source=dict(src) if src else None,
                error=errors.get(f.path),
            )
        )
    return [sections[s] for s in proc.sections]
