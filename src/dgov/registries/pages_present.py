"""How the registry pages show data: values as text (dates, places, yes/no, nested objects as lines),
fields labelled from the schemas in the reader's language, and access-log entries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dgov.kernel import clock
from dgov.kernel.errors import NotFound
from dgov.kernel.i18n import current_locale
from dgov.kernel.i18n import gettext as _
from dgov.registries import admin_units
from dgov.registries.definitions import Registry
from dgov.registries.definitions import registry as definition
from dgov.registries.labels import N_, enum_label

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Names of sub-fields (addresses, schools, owners…): the schemas title only top-level fields.
SUB_LABELS = {
    "street": N_("Street"),
    "commune_code": N_("Commune"),
    "province_code": N_("Province"),
    "name": N_("Name"),
    "id_number": N_("Personal identification number"),
    "full_name": N_("Full name"),
    "relationship": N_("Relationship"),
    "share": N_("Share"),
    "number": N_("Number"),
    "issued_on": N_("Date of issue"),
    "relationship_to_head": N_("Relationship to the head of household"),
    "since": N_("Since"),
}
KIND_LABELS = {
    "official": N_("Official"),
    "client": N_("Application"),
    "agency": N_("Agency"),
    "system": N_("System"),
}
CHANNEL_LABELS = {
    "page": N_("Web page"),
    "api": N_("API"),
    "exchange": N_("Data exchange"),
    "cli": N_("Command line"),
}


def lang() -> str:
    return current_locale.get()


def when(at: datetime | None, *, with_time: bool = True) -> str:
    if at is None:
        return ""
    local = at.astimezone(clock.VN_TZ)
    return local.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def _place(key: str, code: str) -> str:
    name = None
    try:
        if key.endswith("province_code"):
            name = admin_units.province_name(code)
        elif key.endswith("commune_code"):
            name = admin_units.commune_name(code)
    except admin_units.CODE_LIST_ERRORS:  # a missing code list must not hide the record
        name = None
    return f"{name} ({code})" if name else code


def _scalar(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, str):
        if _DATE.fullmatch(value):
            return f"{value[8:10]}/{value[5:7]}/{value[:4]}"
        if key.endswith(("province_code", "commune_code")):
            return _place(key, value)
        coded = enum_label(key, value)
        if coded is not None:
            text, with_code = coded
            return f"{value} — {_(text)}" if with_code else _(text)
        return value
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".") if abs(value) >= 10_000 else str(value)
    return str(value)


def sub_label(key: str) -> str:
    return _(SUB_LABELS[key]) if key in SUB_LABELS else key.replace("_", " ")


def lines(key: str, value: Any) -> list[str]:
    """A value as lines of text: objects as "label: value", lists one item per line."""
    if isinstance(value, dict):
        return [f"{sub_label(k)}: {'; '.join(lines(k, v))}" for k, v in value.items()]
    if isinstance(value, list):
        if not value:
            return ["—"]
        return ["; ".join(lines(key, item)) for item in value]
    return [_scalar(key, value)]


def registry_title(name: str) -> str:
    try:
        return definition(name).title(lang())
    except NotFound:
        return name


def owner(reg: Registry) -> str:
    names = reg.meta.get("owner", {}).get("name", {})
    return str(names.get(lang()) or names.get("en") or reg.owner)


def label(reg: Registry, path: str) -> str:
    top, _dot, rest = path.partition(".")
    spec = reg.fields().get(top, {})
    text = _(str(spec.get("title") or top))
    return f"{text} › {sub_label(rest.split('.')[-1])}" if rest else text


@dataclass
class Row:
    name: str
    label: str
    lines: list[str]
    source: str
    sensitive: bool
    since: str = ""


def rows_of(reg: Registry, data: dict[str, Any], since: dict[str, datetime] | None = None) -> list[Row]:
    """Every field of the record in the schema's order, labelled, with the registry its value comes
    from (`x-authoritative`, else this one)."""
    out = []
    for name, spec in reg.fields().items():
        if name not in data:
            continue
        authority = str(spec.get("x-authoritative") or reg.name)
        out.append(
            Row(
                name=name,
                label=_(str(spec.get("title") or name)),
                lines=lines(name, data[name]),
                source=registry_title(authority),
                sensitive=bool(spec.get("x-sensitive")),
                since=when((since or {}).get(name), with_time=False),
            )
        )
    return out


def log_view(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        try:
            reg: Registry | None = definition(e["registry"])
        except NotFound:
            reg = None
        order = list(reg.fields()) if reg else []
        names = sorted(e["fields"], key=lambda f: order.index(f) if f in order else len(order))
        fields = [_("Record history") if f == "history" else (label(reg, f) if reg else f) for f in names]
        out.append(
            {
                "at": when(datetime.fromisoformat(e["at"])),
                "kind": _(KIND_LABELS.get(e["accessor_kind"], e["accessor_kind"])),
                "who": e["accessor_name"] or e["accessor"],
                "registry": registry_title(e["registry"]),
                "fields": fields,
                "purpose": e["purpose"],
                "legal_basis": e["legal_basis"] or "",
                "dossier_code": e["dossier_code"] or "",
                "channel": _(CHANNEL_LABELS.get(e["channel"], e["channel"])),
            }
        )
    return out
