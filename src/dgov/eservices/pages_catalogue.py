"""Citizens' pages: the catalogue, a procedure, and its form (prefilled once-only, drafts, submission)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.eservices import (
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
from dgov.eservices.pages_support import (
    AGENCY_NAMES,
    FIELD_NAMES,
    LEVEL_NAMES,
    REGISTRY_NAMES,
    applicant_of,
    lang,
    login_redirect,
    when,
)
from dgov.kernel.errors import NotFound, ValidationFailed
from dgov.kernel.i18n import gettext as _
from dgov.web.deps import get_runtime
from dgov.web.templating import page

router = APIRouter(include_in_schema=False)


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
    # A GET stores nothing (a link followed or prefetched must not leave drafts behind): the page shows
    # the open draft, or a prefilled preview whose id and key the first POST uses to create the draft.
    d = await dossiers_citizen.draft_or_preview(get_runtime(request), applicant, proc.id)
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
    d = await dossiers_citizen.draft_for_post(
        rt, applicant, proc.id, draft_id, str(form.get("idempotency_key", ""))
    )
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
