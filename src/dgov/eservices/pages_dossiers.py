"""Citizens' pages: "Hồ sơ của tôi" — dossiers, timeline, messages, withdrawal, rating, receipt,
apology letter and attachments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.eservices import (
    catalogue,
    dossiers,
    dossiers_attachments,
    dossiers_citizen,
    forms,
)
from dgov.eservices.catalogue import text
from dgov.eservices.dossiers import Dossier
from dgov.eservices.pages_support import (
    STATUS_NAMES,
    applicant_of,
    day,
    lang,
    login_redirect,
    parse_uuid,
    qr_svg,
    when,
)
from dgov.identity import current_login
from dgov.kernel.errors import NotFound, ValidationFailed
from dgov.kernel.i18n import gettext as _
from dgov.web.deps import get_runtime
from dgov.web.templating import page

router = APIRouter(include_in_schema=False)


def _dossier_summary(d: Dossier) -> dict[str, Any]:
    proc = catalogue.catalogue().get(d.procedure_id)
    return {
        "id": str(d.id),
        "code": d.code,
        "status": d.status,
        "status_name": _(STATUS_NAMES[d.status]),
        "procedure": proc.name(lang()) if proc else d.procedure_id,
        "procedure_id": d.procedure_id,
        "created": when(d.created_at),
        "submitted": when(d.submitted_at),
        "due": day(d.due_date),
        "overdue": d.is_overdue(),
        "final": d.status in dossiers.FINAL,
        "rating": d.rating,
        "agency": text(proc.raw["agency"]["name"], lang()) if proc else d.agency_member,
    }


@router.get("/ho-so")
async def my_dossiers(request: Request) -> Response:
    applicant = await applicant_of(request)
    if applicant is None:
        return login_redirect(request)
    items = await dossiers_citizen.mine(get_runtime(request).db, applicant.principal)
    return await page(request, "eservices/my_dossiers.html", {"items": [_dossier_summary(d) for d in items]})


async def _detail(
    request: Request,
    dossier_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    d, events, messages = await dossiers_citizen.follow(get_runtime(request).db, login.principal, dossier_id)
    timeline = [
        {
            "at": when(e.at),
            "kind": e.kind,
            "status": _(STATUS_NAMES[e.to_status]) if e.to_status else "",
            "actor": e.actor_name,
            "note": e.note or "",
            "id": str(e.id),
            "data": e.data,
        }
        for e in events
    ]
    return await page(
        request,
        "eservices/dossier.html",
        {
            "d": _dossier_summary(d),
            "timeline": timeline,
            "messages": [
                {"at": when(m.at), "kind": m.sender_kind, "name": m.sender_name, "body": m.body}
                for m in messages
            ],
            "results": d.results,
            "is_applicant": login.principal.account_id == d.applicant_account,
            "attachments": d.attachments,
            "can_withdraw": dossiers.WITHDRAWN in dossiers.ALLOWED[d.status]
            and login.principal.account_id == d.applicant_account,
            "can_rate": d.status in (dossiers.RESULT_ISSUED, dossiers.REJECTED)
            and d.rating is None
            and login.principal.account_id == d.applicant_account,
            "errors": errors or {},
            "values": values or {},
        },
        status=status,
    )


@router.get("/ho-so/{dossier_id}")
async def dossier_page(request: Request, dossier_id: str) -> Response:
    return await _detail(request, parse_uuid(dossier_id))


async def _refused(
    request: Request, dossier_id: str, exc: ValidationFailed, values: dict[str, str]
) -> Response:
    """The dossier page again with the field errors and what the citizen typed (nothing changed)."""
    return await _detail(
        request, parse_uuid(dossier_id), errors=forms.errors_by_path(exc.errors), status=422, values=values
    )


@router.post("/ho-so/{dossier_id}/tin-nhan")
async def message_post(request: Request, dossier_id: str) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    form = await request.form()
    body = str(form.get("body", ""))
    try:
        await dossiers_citizen.post_message(
            get_runtime(request).db,
            login.principal,
            parse_uuid(dossier_id),
            body,
            sender_name=login.account.full_name,
        )
    except ValidationFailed as exc:
        return await _refused(request, dossier_id, exc, {"body": body})
    return RedirectResponse(f"/ho-so/{dossier_id}#tin-nhan", status_code=303)


@router.post("/ho-so/{dossier_id}/rut")
async def withdraw_post(request: Request, dossier_id: str) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    form = await request.form()
    await dossiers_citizen.withdraw(
        get_runtime(request).db, login.principal, parse_uuid(dossier_id), str(form.get("reason", ""))
    )
    return RedirectResponse(f"/ho-so/{dossier_id}", status_code=303)


@router.post("/ho-so/{dossier_id}/danh-gia")
async def rate_post(request: Request, dossier_id: str) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    form = await request.form()
    try:
        stars = int(str(form.get("rating", "0")))
    except ValueError:
        stars = 0
    comment = str(form.get("comment", ""))
    try:
        await dossiers_citizen.rate(
            get_runtime(request).db, login.principal, parse_uuid(dossier_id), stars, comment
        )
    except ValidationFailed as exc:
        return await _refused(request, dossier_id, exc, {"comment": comment})
    return RedirectResponse(f"/ho-so/{dossier_id}", status_code=303)


@router.get("/ho-so/{dossier_id}/bien-nhan")
async def receipt_page(request: Request, dossier_id: str) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    d, _events, _messages = await dossiers_citizen.follow(
        get_runtime(request).db, login.principal, parse_uuid(dossier_id)
    )
    if d.code is None:
        raise NotFound()
    proc = catalogue.procedure(d.procedure_id)
    return await page(
        request,
        "eservices/receipt.html",
        {
            "d": _dossier_summary(d),
            "qr": qr_svg(d.code),
            "applicant": d.applicant_name,
            "documents": [
                {
                    "name": text(doc["name"], lang()),
                    "attached": any(a["document"] == doc["id"] for a in d.attachments),
                }
                for doc in proc.documents
            ],
            "fee": proc.raw["fee"]["amount"],
        },
    )


@router.get("/ho-so/{dossier_id}/thu-xin-loi/{event_id}")
async def apology_page(request: Request, dossier_id: str, event_id: str) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    d, events, _messages = await dossiers_citizen.follow(
        get_runtime(request).db, login.principal, parse_uuid(dossier_id)
    )
    event = next((e for e in events if str(e.id) == event_id and e.kind == "apology"), None)
    if event is None:
        raise NotFound()
    return await page(
        request,
        "eservices/apology.html",
        {
            "d": _dossier_summary(d),
            "applicant": d.applicant_name,
            "at": when(event.at),
            "reason": event.data.get("reason", ""),
            "old_due": day(datetime.fromisoformat(event.data["old_due"]))
            if event.data.get("old_due")
            else "",
            "new_due": day(datetime.fromisoformat(event.data["new_due"])),
            "signer": event.actor_name,
        },
    )


@router.get("/ho-so/{dossier_id}/tep/{code}")
async def attachment_download(request: Request, dossier_id: str, code: str) -> Response:
    applicant = await applicant_of(request)
    if applicant is None:
        return login_redirect(request)
    info, content = await dossiers_attachments.open_attachment(
        get_runtime(request), applicant, parse_uuid(dossier_id), code
    )
    return Response(
        content,
        media_type=info.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{info.code}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
