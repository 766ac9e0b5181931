"""Citizen pages: the catalogue (/dich-vu-cong), a procedure, its form, "Hồ sơ của tôi" (/ho-so) with
the timeline, messages, withdrawal and rating, the receipt and the apology letter."""

from __future__ import annotations

import uuid
from datetime import datetime
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

import segno
from fastapi import APIRouter
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.eservices import (
    backoffice_pages,
    catalogue,
    dossiers,
    dossiers_attachments,
    dossiers_citizen,
    forms,
    prefill,
)
from dgov.eservices.catalogue import Procedure, text
from dgov.eservices.dossiers import Dossier
from dgov.eservices.dossiers_citizen import Applicant
from dgov.identity import current_login
from dgov.kernel import clock
from dgov.kernel.errors import Forbidden, NotFound, ValidationFailed
from dgov.kernel.i18n import current_locale
from dgov.kernel.i18n import gettext as _
from dgov.web.deps import get_runtime
from dgov.web.templating import add_template_package, page

router = APIRouter(include_in_schema=False)
add_template_package("dgov.eservices")

FIELD_NAMES = {
    "civil_status": "Civil status",
    "residence": "Residence",
    "health_insurance": "Health insurance",
    "social_insurance": "Social insurance",
    "business": "Business",
    "judicial": "Judicial records",
    "construction": "Construction",
}
AGENCY_NAMES = {
    "BTP": "Ministry of Justice",
    "BCA": "Ministry of Public Security",
    "BHXH": "Vietnam Social Security",
    "BXD": "Ministry of Construction",
    "UBND": "People's Committees",
}
LEVEL_NAMES = {"full": "Fully online", "partial": "Partly online"}
STATUS_NAMES = {
    "draft": "Draft",
    "submitted": "Submitted",
    "received": "Received",
    "in_processing": "Being processed",
    "supplement_requested": "More information requested",
    "approved": "Approved",
    "rejected": "Rejected",
    "result_issued": "Result issued",
    "withdrawn": "Withdrawn by the applicant",
}
REGISTRY_NAMES = {
    "population": "National population database",
    "residence": "Residence database",
    "health_insurance": "Health insurance database",
    "civil_status": "Civil status database",
}


def lang() -> str:
    return current_locale.get()


def when(at: datetime | None) -> str:
    return at.astimezone(clock.VN_TZ).strftime("%d/%m/%Y %H:%M") if at else ""


def day(value: Any) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


async def applicant_of(request: Request) -> Applicant | None:
    login = await current_login(request)
    if login is None:
        return None
    if login.principal.kind != "citizen" or not login.account.id_number:
        raise Forbidden("Online public services are for citizens; log in with your personal ID number")
    return Applicant(login.principal, login.account.id_number, login.account.full_name)


def _summary(proc: Procedure) -> dict[str, Any]:
    raw = proc.raw
    return {
        "id": proc.id,
        "code": proc.code,
        "name": proc.name(lang()),
        "summary": text(raw["summary"], lang()) if "summary" in raw else "",
        "agency": text(raw["agency"]["name"], lang()),
        "field": _(FIELD_NAMES[proc.field_name]),
        "level": _(LEVEL_NAMES[proc.level]),
        "level_code": proc.level,
        "deadline": proc.deadline_days,
        "fee": raw["fee"]["amount"],
        "bundle": proc.is_bundle,
    }


@router.get("/dich-vu-cong")
async def catalogue_page(
    request: Request, q: str = "", field: str = "", agency: str = "", level: str = ""
) -> Response:
    q = q.strip()[:200]
    field = field if field in FIELD_NAMES else ""
    agency = agency if agency in AGENCY_NAMES else ""
    level = level if level in LEVEL_NAMES else ""
    found = catalogue.search(q, field_name=field, agency=agency, level=level)
    return await page(
        request,
        "eservices/catalogue.html",
        {
            "procedures": [_summary(p) for p in found],
            "values": {"q": q, "field": field, "agency": agency, "level": level},
            "fields": [("", _("All fields"))] + [(k, _(v)) for k, v in FIELD_NAMES.items()],
            "agencies": [("", _("All agencies"))] + [(k, _(v)) for k, v in AGENCY_NAMES.items()],
            "levels": [("", _("All levels"))] + [(k, _(v)) for k, v in LEVEL_NAMES.items()],
            "total": len(catalogue.catalogue()),
        },
    )


@router.get("/dich-vu-cong/{procedure_id}")
async def procedure_page(request: Request, procedure_id: str) -> Response:
    proc = catalogue.procedure(procedure_id)
    raw = proc.raw
    return await page(
        request,
        "eservices/procedure.html",
        {
            "p": _summary(proc),
            "fee_note": text(raw["fee"]["note"], lang()) if raw["fee"].get("note") else "",
            "documents": [
                {"name": text(d["name"], lang()), "required": d["required"]} for d in proc.documents
            ],
            "legal": [
                {"ref": b["ref"], "title": text(b["title"], lang()) if "title" in b else ""}
                for b in raw["legal_basis"]
            ],
            "branches": [
                {
                    "name": catalogue.procedure(b["procedure"]).name(lang()),
                    "agency": text(b["agency"]["name"], lang()),
                    "id": b["procedure"],
                }
                for b in proc.branches
            ],
            "verify": raw.get("verify", []),
            "typed": len(catalogue.typed_fields(proc)),
            "prefilled": len(proc.prefill),
        },
    )


def _source_view(src: dict[str, Any] | None) -> dict[str, str] | None:
    if not src:
        return None
    changed = datetime.fromisoformat(src["changed_at"]) if src.get("changed_at") else None
    return {
        "registry": _(REGISTRY_NAMES.get(src["registry"], src["registry"])),
        "agency": src.get("agency", ""),
        "changed": when(changed),
        "mode": src.get("mode", ""),
    }


async def _form_page(
    request: Request,
    proc: Procedure,
    d: Dossier,
    applicant: Applicant,
    *,
    data: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    saved: bool = False,
) -> Response:
    errors = errors or {}
    sections = forms.view(
        proc, data if data is not None else d.data, sources=d.sources, errors=errors, lang=lang()
    )
    for s in sections:
        for f in s.fields:
            f.source = _source_view(f.source)
    have = {a["document"]: a for a in d.attachments}
    wallet = await dossiers_attachments.wallet(get_runtime(request), applicant)
    choices = [(w.document.code, f"{w.document.title} ({w.document.code})") for w in wallet]
    docs = [
        {
            "id": doc["id"],
            "input": f"doc-{doc['id']}",
            "name": text(doc["name"], lang()),
            "required": doc["required"],
            "attached": have.get(doc["id"]),
            "wallet": choices,
            "error": errors.get(f"attachments.{doc['id']}"),
        }
        for doc in proc.documents
    ]
    # A procedure about a child: the parent picks one of their children (checked again on the server).
    kids = await dossiers_citizen.children_for(get_runtime(request), applicant, d)
    chosen = str(d.sources.get("child.id_number", {}).get("value") or "")
    child_picker = (
        {
            "options": [(k.id_number, k.full_name) for k in kids],
            "chosen": chosen,
            "error": errors.get("child.id_number"),
            "label": proc.section_title(sorted(prefill.child_paths(proc))[0].split(".", 1)[0], lang()),
        }
        if prefill.has_child(proc) and (kids or "child.id_number" in errors)
        else None
    )
    order = [f.path for f in proc.fields] + [f"attachments.{doc['id']}" for doc in proc.documents]
    anchors = {
        path: forms.field_id(path) if not path.startswith("attachments.") else "doc-" + path.split(".", 1)[1]
        for path in order
    }
    if child_picker and child_picker["options"]:
        anchors["child.id_number"] = "f-child-pick"
    labels = {f.path: text(f.ui["label"], lang()) for f in proc.fields}
    labels.update({f"attachments.{doc['id']}": text(doc["name"], lang()) for doc in proc.documents})
    # Each line of the summary names its field: "Tên: Thông tin này là bắt buộc".
    summary = [(anchors[p], f"{labels[p]}: {errors[p]}") for p in order if p in errors] + [
        ("", m) for p, m in errors.items() if p not in anchors
    ]
    return await page(
        request,
        "eservices/form.html",
        {
            "p": _summary(proc),
            "d": d,
            "sections": sections,
            "docs": docs,
            "summary": summary,
            "saved": saved,
            "typed": len(catalogue.typed_fields(proc)),
            "child_picker": child_picker,
        },
        status=status,
    )


@router.get("/dich-vu-cong/{procedure_id}/nop")
async def form_page(request: Request, procedure_id: str) -> Response:
    proc = catalogue.procedure(procedure_id)
    applicant = await applicant_of(request)
    if applicant is None:
        return login_redirect(request)
    d = await dossiers_citizen.open_draft(get_runtime(request), applicant, proc.id)
    return await _form_page(request, proc, d, applicant)


async def _attach_files(
    request: Request, applicant: Applicant, d: Dossier, form: FormData, proc: Procedure
) -> dict[str, str]:
    """Attach what the form brings: a new file, or else a document picked from the wallet."""
    rt = get_runtime(request)
    errors: dict[str, str] = {}
    for doc in proc.documents:
        upload = form.get(f"doc-{doc['id']}")
        picked = form.get(f"wallet-{doc['id']}")
        try:
            if isinstance(upload, UploadFile) and upload.filename:
                content = await upload.read()
                await dossiers_attachments.attach_upload(
                    rt, applicant, d.id, doc["id"], filename=upload.filename, data=content
                )
            elif isinstance(picked, str) and picked:
                await dossiers_attachments.attach_wallet_document(rt, applicant, d.id, doc["id"], code=picked)
        except ValidationFailed as exc:
            errors.update(forms.errors_by_path(exc.errors))
    return errors


@router.post("/dich-vu-cong/{procedure_id}/nop")
async def form_post(request: Request, procedure_id: str) -> Response:
    proc = catalogue.procedure(procedure_id)
    applicant = await applicant_of(request)
    if applicant is None:
        return login_redirect(request)
    rt = get_runtime(request)
    form = await request.form()
    try:
        draft_id = uuid.UUID(str(form.get("draft_id", "")))
    except ValueError:
        raise NotFound() from None
    texts = {k: v for k, v in form.items() if isinstance(v, str)}
    data = forms.from_post(proc, texts)
    async with rt.db.uow(readonly=True) as uow:
        d = await dossiers_citizen.load_own(uow, applicant.principal, draft_id)
    if form.get("action") == "child":
        try:
            d = await dossiers_citizen.choose_child(rt, applicant, d.id, str(form.get("child_pick", "")))
        except ValidationFailed as exc:
            return await _form_page(
                request, proc, d, applicant, errors=forms.errors_by_path(exc.errors), status=422
            )
        return await _form_page(request, proc, d, applicant)
    upload_errors = await _attach_files(request, applicant, d, form, proc)
    if form.get("action") == "save" or upload_errors:
        d = await dossiers_citizen.save_draft(rt.db, applicant, d.id, data)
        if upload_errors:
            return await _form_page(request, proc, d, applicant, errors=upload_errors, status=422)
        return await _form_page(request, proc, d, applicant, saved=True)
    try:
        done = await dossiers_citizen.submit(
            rt, applicant, proc.id, data, idempotency_key=str(form.get("idempotency_key", "")), draft_id=d.id
        )
    except ValidationFailed as exc:
        async with rt.db.uow(readonly=True) as uow:
            d = await dossiers.get(uow, d.id)
        shown = forms.authoritative(
            data,
            {p: s.get("value") for p, s in d.sources.items()},
            {p for p, s in d.sources.items() if s.get("mode") == "readonly"},
        )
        return await _form_page(
            request, proc, d, applicant, data=shown, errors=forms.errors_by_path(exc.errors), status=422
        )
    return RedirectResponse(f"/ho-so/{done.id}/bien-nhan", status_code=303)


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


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound() from None


@router.get("/ho-so/{dossier_id}")
async def dossier_page(request: Request, dossier_id: str) -> Response:
    return await _detail(request, _uuid(dossier_id))


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
            _uuid(dossier_id),
            body,
            sender_name=login.account.full_name,
        )
    except ValidationFailed as exc:
        return await _detail(
            request,
            _uuid(dossier_id),
            errors=forms.errors_by_path(exc.errors),
            status=422,
            values={"body": body},
        )
    return RedirectResponse(f"/ho-so/{dossier_id}#tin-nhan", status_code=303)


@router.post("/ho-so/{dossier_id}/rut")
async def withdraw_post(request: Request, dossier_id: str) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    form = await request.form()
    await dossiers_citizen.withdraw(
        get_runtime(request).db, login.principal, _uuid(dossier_id), str(form.get("reason", ""))
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
            get_runtime(request).db, login.principal, _uuid(dossier_id), stars, comment
        )
    except ValidationFailed as exc:
        return await _detail(
            request,
            _uuid(dossier_id),
            errors=forms.errors_by_path(exc.errors),
            status=422,
            values={"comment": comment},
        )
    return RedirectResponse(f"/ho-so/{dossier_id}", status_code=303)


def qr_svg(data: str) -> str:
    return segno.make(data, error="m").svg_inline(scale=3, omitsize=False)


@router.get("/ho-so/{dossier_id}/bien-nhan")
async def receipt_page(request: Request, dossier_id: str) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    d, _events, _messages = await dossiers_citizen.follow(
        get_runtime(request).db, login.principal, _uuid(dossier_id)
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
        get_runtime(request).db, login.principal, _uuid(dossier_id)
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
        get_runtime(request), applicant, _uuid(dossier_id), code
    )
    return Response(
        content,
        media_type=info.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{info.code}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/eservices-assets/eservices.css")
async def stylesheet() -> Response:
    css = (files("dgov.eservices") / "assets" / "eservices.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


# The officials' back office (same domain, its own module).
router.include_router(backoffice_pages.router)
