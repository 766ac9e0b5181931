"""One record for an official: every field labelled with its source, the version as of a date, the
history with what each version changed, and for a person the access log. The read happens only with a
ticket made when the official stated the purpose on this site (see pages_support); without one, or
with a forged one, the page asks for the purpose instead of reading."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.identity import current_login
from dgov.kernel import clock
from dgov.kernel.i18n import gettext as _
from dgov.registries import service
from dgov.registries.api_support import reader_name, registries_context
from dgov.registries.definitions import Registry
from dgov.registries.engine import RecordView, diff
from dgov.registries.pages_present import label, lang, lines, log_view, owner, rows_of, when
from dgov.registries.pages_support import login_redirect, readable_registry, record_url, ticket
from dgov.web.templating import page

router = APIRouter(include_in_schema=False)


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
                valid_from=when(v.valid_from),
                valid_to=when(v.valid_to),
                changed_by=v.changed_by,
                reason=v.reason or "",
                legal_basis=v.legal_basis or "",
                dossier_code=v.dossier_code or "",
                deleted=v.deleted,
                created=before is None,
                changes=[
                    Change(
                        label(reg, path),
                        "; ".join(lines(path, old)),
                        "; ".join(lines(path, new)),
                    )
                    for path, (old, new) in changes.items()
                ],
            )
        )
    return out


def _as_of_instant(value: str) -> datetime:
    """The end of that day in Vietnam: "as of 15/03/2026" includes changes made that day."""
    day = date.fromisoformat(value)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=clock.VN_TZ) - timedelta(microseconds=1)


def _version_at(versions: list[RecordView], at: datetime) -> RecordView | None:
    return next((v for v in versions if v.valid_from <= at and (v.valid_to is None or at < v.valid_to)), None)


async def _purpose_page(
    request: Request, reg: Registry, key: str, as_of: str, errors: dict[str, str], status: int = 200
) -> Response:
    """The form that asks an official why they read this record."""
    return await page(
        request,
        "registries/purpose.html",
        {"reg_title": reg.title(lang()), "registry": reg.name, "key": key, "errors": errors, "as_of": as_of},
        status=status,
    )


@router.get("/registries/{registry}/{key:path}")
async def record(
    request: Request, registry: str, key: str, purpose: str = "", t: str = "", as_of: str = ""
) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    p = login.principal
    reg = await readable_registry(request, p, registry)
    ticket_ok = bool(purpose.strip()) and hmac.compare_digest(t, ticket(request, p, reg.name, key, purpose))
    if not ticket_ok:
        return await _purpose_page(request, reg, key, as_of, {})
    ctx = registries_context(request)
    versions = await service.history(
        ctx, p, reg.name, key, purpose=purpose.strip(), channel="page", accessor_name=reader_name(login)
    )
    as_of_error = ""
    shown: RecordView | None = versions[0]
    if as_of:
        try:
            shown = _version_at(versions, _as_of_instant(as_of))
        except ValueError:
            as_of_error = _("Enter a date as YYYY-MM-DD")
    log: list[dict[str, Any]] = []
    if reg.name == "population":
        # The record was read above within the official's units, so its log may be shown too.
        log = log_view(await service.access_log(ctx, p, key))
    return await page(
        request,
        "registries/record.html",
        {
            "reg": reg,
            "reg_title": reg.title(lang()),
            "owner": owner(reg),
            "key": key,
            "purpose": purpose.strip(),
            "ticket": t,
            "as_of": as_of if not as_of_error else "",
            "as_of_error": as_of_error,
            "shown": shown,
            "current": versions[0],
            "title": str(reg.get((shown or versions[0]).data, reg.meta.get("index", {}).get("name")) or key),
            "rows": rows_of(reg, shown.data) if shown else [],
            "shown_from": when(shown.valid_from) if shown else "",
            "shown_to": when(shown.valid_to) if shown else "",
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
        return login_redirect(request)
    reg = await readable_registry(request, login.principal, registry)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    purpose = form.get("purpose", "").strip()
    as_of = form.get("as_of", "").strip()
    if not purpose:
        errors = {"purpose": _("State why you need this data")}
        return await _purpose_page(request, reg, key, as_of, errors, status=422)
    url = record_url(request, login.principal, reg.name, key, purpose[:2000], as_of or None)
    return RedirectResponse(url, status_code=303)
