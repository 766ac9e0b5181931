"""Registry pages. Officials: search (always with a purpose), a record with every field labelled, the
source of each value, its history with diffs, an "as of" date, and for a person the access log.
Citizens: "Dữ liệu của tôi", their data across registries and everyone who read it.

Every read by an official is written to the person's access log, so a read must be what the official
meant to do: searches are POSTed with the CSRF token, and a record link carries a ticket (an HMAC over
the official, the record and the purpose) made when the official stated the purpose on this site. A
link crafted elsewhere finds no valid ticket and asks for the purpose instead of reading.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.identity import IdNumberError, Principal, can, current_login, validate_id_number
from dgov.kernel import clock
from dgov.kernel.errors import Forbidden, NotFound, ValidationFailed
from dgov.kernel.i18n import current_locale
from dgov.kernel.i18n import gettext as _
from dgov.registries import admin_units, service
from dgov.registries.api import registries_context
from dgov.registries.definitions import Registry, catalogue
from dgov.registries.definitions import registry as definition
from dgov.registries.engine import RecordView, diff
from dgov.web.deps import get_runtime
from dgov.web.templating import add_template_package, page

router = APIRouter(include_in_schema=False)
add_template_package("dgov.registries")


def N_(message: str) -> str:
    """Marks a msgid for extraction; translated where it is shown."""
    return message


PER_PAGE = 20
SUMMARY = ("full_name", "birth_date", "sex", "permanent_address")
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


# --- who is asking ---------------------------------------------------------------------------------


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


def _reader_name(login: Any) -> str:
    agencies = sorted({g.agency for g in login.principal.roles})
    return str(login.account.full_name) + (f" · {', '.join(agencies)}" if agencies else "")


def _readable(p: Principal) -> list[Registry]:
    found = [
        versions[max(versions)]
        for name, versions in catalogue().items()
        if can(p, "registries.record.read", name)
    ]
    return sorted(found, key=lambda r: (r.name != "population", r.title(_lang())))  # people first


def _ticket(request: Request, p: Principal, registry: str, key: str, purpose: str) -> str:
    secret = get_runtime(request).secret.encode()
    msg = f"registries.view\x1f{p.ref}\x1f{registry}\x1f{key}\x1f{purpose}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:32]


def record_url(
    request: Request, p: Principal, registry: str, key: str, purpose: str, as_of: str | None = None
) -> str:
    query = {"purpose": purpose, "t": _ticket(request, p, registry, key, purpose)}
    if as_of:
        query["as_of"] = as_of
    return f"/registries/{registry}/{quote(key, safe='')}?" + urlencode(query)


# --- presenting values ------------------------------------------------------------------------------


def _lang() -> str:
    return current_locale.get()


def _when(at: datetime | None, *, with_time: bool = True) -> str:
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
    except Exception:  # a missing code list must not hide the record
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
        if key == "sex" and value in ("M", "F"):
            return _("Male") if value == "M" else _("Female")
        return value
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".") if abs(value) >= 10_000 else str(value)
    return str(value)


def _sub_label(key: str) -> str:
    return _(SUB_LABELS[key]) if key in SUB_LABELS else key.replace("_", " ")


def _lines(key: str, value: Any) -> list[str]:
    """A value as lines of text: objects as "label: value", lists one item per line."""
    if isinstance(value, dict):
        return [f"{_sub_label(k)}: {'; '.join(_lines(k, v))}" for k, v in value.items()]
    if isinstance(value, list):
        if not value:
            return ["—"]
        return ["; ".join(_lines(key, item)) for item in value]
    return [_scalar(key, value)]


def _registry_title(name: str) -> str:
    try:
        return definition(name).title(_lang())
    except NotFound:
        return name


def _owner(reg: Registry) -> str:
    names = reg.meta.get("owner", {}).get("name", {})
    return str(names.get(_lang()) or names.get("en") or reg.owner)


def _label(reg: Registry, path: str) -> str:
    top, _dot, rest = path.partition(".")
    spec = reg.fields().get(top, {})
    label = _(str(spec.get("title") or top))
    return f"{label} › {_sub_label(rest.split('.')[-1])}" if rest else label


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
                lines=_lines(name, data[name]),
                source=_registry_title(authority),
                sensitive=bool(spec.get("x-sensitive")),
                since=_when((since or {}).get(name), with_time=False),
            )
        )
    return out


@dataclass
class Change:
    label: str
    old: str
    new: str


@dataclass
class VersionView:
    version: int
    valid_from: str
    valid_to: str
    changed_by: str
    reason: str
    legal_basis: str
    dossier_code: str
    deleted: bool
    created: bool
    changes: list[Change] = field(default_factory=list)


def history_of(reg: Registry, versions: list[RecordView]) -> list[VersionView]:
    """Versions newest first, each with what it changed from the one before."""
    out = []
    for i, v in enumerate(versions):
        before = versions[i + 1] if i + 1 < len(versions) else None
        changes = diff(before.data, v.data) if before else {}
        out.append(
            VersionView(
                version=v.version,
                valid_from=_when(v.valid_from),
                valid_to=_when(v.valid_to),
                changed_by=v.changed_by,
                reason=v.reason or "",
                legal_basis=v.legal_basis or "",
                dossier_code=v.dossier_code or "",
                deleted=v.deleted,
                created=before is None,
                changes=[
                    Change(
                        _label(reg, path),
                        "; ".join(_lines(path, old)),
                        "; ".join(_lines(path, new)),
                    )
                    for path, (old, new) in changes.items()
                ],
            )
        )
    return out


def since_of(versions: list[RecordView]) -> dict[str, datetime]:
    """For each field of the newest version, since when it has held its value."""
    current = versions[0].data
    since: dict[str, datetime] = {}
    for name, value in current.items():
        at = versions[0].valid_from
        for older in versions[1:]:
            if older.data.get(name) != value:
                break
            at = older.valid_from
        since[name] = at
    return since


def log_view(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        try:
            reg: Registry | None = definition(e["registry"])
        except NotFound:
            reg = None
        order = list(reg.fields()) if reg else []
        names = sorted(e["fields"], key=lambda f: order.index(f) if f in order else len(order))
        fields = [_("Record history") if f == "history" else (_label(reg, f) if reg else f) for f in names]
        out.append(
            {
                "at": _when(datetime.fromisoformat(e["at"])),
                "kind": _(KIND_LABELS.get(e["accessor_kind"], e["accessor_kind"])),
                "who": e["accessor_name"] or e["accessor"],
                "registry": _registry_title(e["registry"]),
                "fields": fields,
                "purpose": e["purpose"],
                "legal_basis": e["legal_basis"] or "",
                "dossier_code": e["dossier_code"] or "",
                "channel": _(CHANNEL_LABELS.get(e["channel"], e["channel"])),
            }
        )
    return out


def _errors(exc: ValidationFailed) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors:
        name = {"key": "id_number"}.get(str(e.loc[-1]), str(e.loc[-1])) if e.loc else "name"
        out.setdefault(name, _(e.message, **e.params))
    return out


# --- officials: search ------------------------------------------------------------------------------


def _province_options() -> list[tuple[str, str]]:
    try:
        units = admin_units.provinces()
    except Exception:  # no code list: the field still takes a code
        units = []
    return [("", _("Any province"))] + [(u.code, f"{u.name} ({u.code})") for u in units]


async def _search_page(
    request: Request,
    regs: list[Registry],
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    results: list[dict[str, Any]] | None = None,
    page_no: int = 1,
    more: bool = False,
    status: int = 200,
) -> Response:
    return await page(
        request,
        "registries/search.html",
        {
            "registries": [(r.name, r.title(_lang())) for r in regs],
            "provinces": _province_options(),
            "values": values,
            "errors": errors or {},
            "results": results,
            "page_no": page_no,
            "more": more,
        },
        status=status,
    )


@router.get("/registries")
async def search_form(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return _login_redirect(request)
    regs = _readable(login.principal)
    if not regs:
        raise Forbidden()
    return await _search_page(request, regs, {"registry": "population"})


@router.post("/registries")
async def search(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return _login_redirect(request)
    regs = _readable(login.principal)
    if not regs:
        raise Forbidden()
    form = {
        k: v.strip() for k, v in (await request.form()).items() if isinstance(v, str) and k != "csrftoken"
    }
    names = {r.name for r in regs}
    errors: dict[str, str] = {}
    if form.get("registry") not in names:
        errors["registry"] = _("Choose a registry")
    if not form.get("purpose"):
        errors["purpose"] = _("State why you need this data")
    id_number = form.get("id_number", "")
    if id_number and form.get("registry") == "population":
        try:
            validate_id_number(id_number)
        except IdNumberError as exc:
            errors["id_number"] = _(exc.msgid)
    year: int | None = None
    if form.get("birth_year"):
        if form["birth_year"].isdigit() and 1800 <= int(form["birth_year"]) <= 2200:
            year = int(form["birth_year"])
        else:
            errors["birth_year"] = _("Enter a year such as 1990")
    if not id_number and not form.get("name") and "purpose" not in errors:
        errors["name"] = _("Search by ID number or by name")
    page_no = int(form["page"]) if form.get("page", "").isdigit() and int(form["page"]) >= 1 else 1
    if errors:
        return await _search_page(request, regs, form, errors=errors, status=422)
    reg = definition(form["registry"])
    ctx = registries_context(request)
    try:
        found = await service.search(
            ctx,
            login.principal,
            reg.name,
            purpose=form["purpose"],
            key=id_number or None,
            name=form.get("name") or None,
            birth_year=year,
            province=form.get("province") or None,
            limit=PER_PAGE,
            offset=(page_no - 1) * PER_PAGE,
            channel="page",
            accessor_name=_reader_name(login),
        )
    except ValidationFailed as exc:
        return await _search_page(request, regs, form, errors=_errors(exc), status=422)
    name_field = reg.meta.get("index", {}).get("name", "")
    results = [
        {
            "key": v.key,
            "url": record_url(request, login.principal, reg.name, v.key, form["purpose"]),
            "title": str(v.data.get(name_field, "") or v.key),
            "rows": [r for r in rows_of(reg, v.data) if r.name in SUMMARY and r.name != name_field],
        }
        for v in found
    ]
    return await _search_page(
        request, regs, form, results=results, page_no=page_no, more=len(found) == PER_PAGE
    )


# --- officials: one record ------------------------------------------------------------------------------


def _as_of_instant(value: str) -> datetime:
    """The end of that day in Vietnam: "as of 15/03/2026" includes changes made that day."""
    day = date.fromisoformat(value)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=clock.VN_TZ) - timedelta(microseconds=1)


def _version_at(versions: list[RecordView], at: datetime) -> RecordView | None:
    return next((v for v in versions if v.valid_from <= at and (v.valid_to is None or at < v.valid_to)), None)


@router.get("/registries/{registry}/{key:path}")
async def record(
    request: Request, registry: str, key: str, purpose: str = "", t: str = "", as_of: str = ""
) -> Response:
    login = await current_login(request)
    if login is None:
        return _login_redirect(request)
    reg = definition(registry)
    p = login.principal
    if not can(p, "registries.record.read", reg.name):
        raise Forbidden()
    ticket_ok = bool(purpose.strip()) and hmac.compare_digest(t, _ticket(request, p, reg.name, key, purpose))
    if not ticket_ok:
        return await page(
            request,
            "registries/purpose.html",
            {"reg_title": reg.title(_lang()), "registry": reg.name, "key": key, "errors": {}, "as_of": as_of},
        )
    ctx = registries_context(request)
    versions = await service.history(
        ctx, p, reg.name, key, purpose=purpose.strip(), channel="page", accessor_name=_reader_name(login)
    )
    as_of_error = ""
    shown: RecordView | None = versions[0]
    if as_of:
        try:
            shown = _version_at(versions, _as_of_instant(as_of))
        except ValueError:
            as_of_error = _("Enter a date as YYYY-MM-DD")
    log: list[dict[str, Any]] = []
    if reg.name == "population" and can(p, "registries.access_log.view"):
        log = log_view(await service.access_log(ctx, p, key))
    return await page(
        request,
        "registries/record.html",
        {
            "reg": reg,
            "reg_title": reg.title(_lang()),
            "owner": _owner(reg),
            "key": key,
            "purpose": purpose.strip(),
            "ticket": t,
            "as_of": as_of if not as_of_error else "",
            "as_of_error": as_of_error,
            "shown": shown,
            "current": versions[0],
            "title": str(reg.get((shown or versions[0]).data, reg.meta.get("index", {}).get("name")) or key),
            "rows": rows_of(reg, shown.data) if shown else [],
            "shown_from": _when(shown.valid_from) if shown else "",
            "shown_to": _when(shown.valid_to) if shown else "",
            "history": history_of(reg, versions),
            "log": log,
            "today": clock.now().astimezone(clock.VN_TZ).date().isoformat(),
        },
    )


@router.post("/registries/{registry}/{key:path}")
async def state_purpose(request: Request, registry: str, key: str) -> Response:
    """The purpose form of a record: a ticketed link to the record, made here on the site."""
    login = await current_login(request)
    if login is None:
        return _login_redirect(request)
    reg = definition(registry)
    if not can(login.principal, "registries.record.read", reg.name):
        raise Forbidden()
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    purpose = form.get("purpose", "").strip()
    as_of = form.get("as_of", "").strip()
    if not purpose:
        return await page(
            request,
            "registries/purpose.html",
            {
                "reg_title": reg.title(_lang()),
                "registry": reg.name,
                "key": key,
                "as_of": as_of,
                "errors": {"purpose": _("State why you need this data")},
            },
            status=422,
        )
    url = record_url(request, login.principal, reg.name, key, purpose[:2000], as_of or None)
    return RedirectResponse(url, status_code=303)


# --- citizens: "Dữ liệu của tôi" ---------------------------------------------------------------------


@router.get("/my-data")
async def my_data(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return _login_redirect(request)
    p = login.principal
    id_number = login.account.id_number
    if not can(p, "registries.my_data.view") or not id_number:
        raise Forbidden("This page shows a citizen's own data; log in with your personal ID number")
    ctx = registries_context(request)
    cards = []
    for versions in await service.my_history(ctx, p, id_number):
        current = versions[0]
        try:
            reg = definition(current.registry)
        except NotFound:
            continue
        cards.append(
            {
                "title": reg.title(_lang()),
                "owner": _owner(reg),
                "key": current.key,
                "key_label": _label(reg, reg.key_field),
                "version": current.version,
                "changed": _when(current.valid_from),
                "rows": rows_of(reg, current.data, since_of(versions)),
            }
        )
    log = log_view(await service.access_log(ctx, p, id_number))
    return await page(
        request, "registries/my_data.html", {"cards": cards, "log": log, "id_number": id_number}
    )
