"""The officials' back office (/can-bo): queue with filters and deadlines, claim, bulk assignment, the
dossier with where each value came from, and the actions. Every decision is the service layer's
(`worklist`); these handlers only translate forms and errors."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.eservices import catalogue, dossiers, dossiers_citizen, worklist
from dgov.eservices.pages_support import STATUS_NAMES
from dgov.eservices.workflow_models import WorkItem
from dgov.identity import Principal, can, current_principal, official_names
from dgov.kernel import clock
from dgov.kernel.clock import VN_TZ
from dgov.kernel.errors import FieldError, Forbidden, NotFound, ValidationFailed
from dgov.kernel.i18n import current_locale
from dgov.kernel.i18n import gettext as _
from dgov.web.deps import get_runtime
from dgov.web.templating import page

router = APIRouter(include_in_schema=False)
STATUSES = ("open", "claimed", "mine", "overdue")


def N_(message: str) -> str:
    return message  # marks a msgid; translated when shown


BRANCH_NAMES = {
    "civil_status": N_("Civil status (justice)"),
    "residence": N_("Permanent residence (police)"),
    "health_insurance": N_("Health insurance (social insurance)"),
}
STATE_NAMES = {
    "open": N_("Waiting"),
    "claimed": N_("Being handled"),
    "done": N_("Done"),
    "cancelled": N_("Cancelled"),
    "approve": N_("Approved"),
    "reject": N_("Rejected"),
    "supplement": N_("Documents requested"),
    "receive": N_("Received"),
    "supply": N_("Documents supplied"),
}


def _status_name(status: str) -> str:
    return _(STATUS_NAMES[status]) if status in STATUS_NAMES else status


def _state(value: str) -> str:
    return _(STATE_NAMES[value]) if value in STATE_NAMES else value


def _login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


async def _official(request: Request) -> Principal | None:
    p = await current_principal(request)
    if not p.authenticated:
        return None
    if p.kind != "official":
        raise Forbidden()
    return p


def _when(dt: datetime | None) -> str:
    return dt.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M") if dt else "—"


def _form_defaults(pid: str) -> dict[str, Any]:
    try:
        return dict(catalogue.procedure(pid).defaults)
    except NotFound:  # a dossier of a procedure since removed from the catalogue
        return {}


def _changed(raw: Any) -> str:
    """Sources carry ISO timestamps; officials read them as local dates like everywhere else."""
    try:
        return _when(datetime.fromisoformat(str(raw)))
    except ValueError:
        return str(raw or "")


def _procedure_name(pid: str) -> str:
    try:
        return catalogue.procedure(pid).name(current_locale.get())
    except NotFound:  # a dossier of a procedure since removed from the catalogue
        return pid


def _row(w: WorkItem, p: Principal, names: dict[str, str]) -> dict[str, Any]:
    now = clock.now()
    return {
        "id": w.id,
        "dossier_id": w.dossier_id,
        "code": w.dossier_code,
        "procedure": _procedure_name(w.procedure),
        "title": w.title,
        "branch": w.branch,
        "status": w.status,
        "status_name": _state(w.status),
        "assignee": names.get(w.assignee or "", w.assignee or ""),
        "mine": w.assignee == p.ref,
        "due": _when(w.due_at),
        "overdue": w.overdue or (w.due_at is not None and w.due_at < now),
    }


@router.get("/can-bo")
async def queue_page(request: Request) -> Response:
    p = await _official(request)
    if p is None:
        return _login(request)
    return await _queue_page(request, p)


async def _queue_page(
    request: Request, p: Principal, *, error: str | None = None, status_code: int = 200
) -> Response:
    q = request.query_params
    status = q.get("status") if q.get("status") in STATUSES else None
    due_before = None
    if q.get("due_before"):
        try:
            due_before = datetime.combine(
                datetime.strptime(q["due_before"], "%Y-%m-%d").date(), time(23, 59), VN_TZ
            ).astimezone(UTC)
        except ValueError:
            due_before = None
    flt = worklist.QueueFilter(procedure=q.get("procedure") or None, status=status, due_before=due_before)
    db = get_runtime(request).db
    items = await worklist.queue(db, p, flt)
    procedures = sorted({(pid, _procedure_name(pid)) for pid in catalogue.catalogue()}, key=lambda x: x[1])
    # Tasks are given to officials picked by name from those who may do them; the id is what is sent.
    people = await worklist.assignees(db, p, items)
    names = {o.ref: o.full_name for o in people}
    async with db.uow(readonly=True) as uow:
        names.update(await official_names(uow, {w.assignee for w in items if w.assignee} - set(names)))
    return await page(
        request,
        "eservices/backoffice/queue.html",
        {
            "items": [_row(w, p, names) for w in items],
            "assignees": [(o.ref, o.full_name) for o in people],
            "assign_error": error,
            "procedures": procedures,
            "f": {
                "procedure": flt.procedure or "",
                "status": status or "",
                "due_before": q.get("due_before", ""),
            },
            "statuses": STATUSES,
            "me": p.ref,
        },
        status=status_code,
    )


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound() from None


@router.post("/can-bo/viec/{item_id}/nhan")
async def claim(request: Request, item_id: str) -> Response:
    p = await _official(request)
    if p is None:
        return _login(request)
    await worklist.claim(get_runtime(request).db, p, _uuid(item_id))
    return RedirectResponse("/can-bo?status=mine", status_code=303)


@router.post("/can-bo/giao")
async def bulk_assign(request: Request) -> Response:
    p = await _official(request)
    if p is None:
        return _login(request)
    form = await request.form()
    ids = [_uuid(str(v)) for v in form.getlist("items")]
    assignee = str(form.get("assignee") or "")
    try:
        await worklist.assign(get_runtime(request).db, p, ids, assignee)
    except ValidationFailed as exc:
        return await _queue_page(request, p, error=_(exc.errors[0].message), status_code=422)
    return RedirectResponse("/can-bo", status_code=303)


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        out: list[tuple[str, Any]] = []
        for k, v in data.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return [(prefix, data)]


async def _dossier_page(
    request: Request,
    p: Principal,
    dossier_id: uuid.UUID,
    *,
    errors: list[Any] | None = None,
    failed_item: str = "",
    status: int = 200,
    apology: dict[str, str] | None = None,
) -> Response:
    view = await worklist.dossier_view(get_runtime(request).db, p, dossier_id)
    d = view.dossier
    # Late dossiers owe the applicant a letter with the reason and a new date (Decision 766/QĐ-TTg
    # counts them); the official who processes the dossier writes it here.
    may_apologise = d.is_overdue() and can(p, "eservices.dossier.process", d)
    may_write = can(p, "eservices.dossier.process", d)
    async with get_runtime(request).db.uow(readonly=True) as uow:
        messages = await dossiers_citizen.messages_of(uow, d.id)
    sources = dict(getattr(d, "sources", {}) or {})
    defaults = _form_defaults(getattr(d, "procedure_id", ""))
    fields = []
    for path, value in _flatten(getattr(d, "data", {}) or {}):
        src = sources.get(path)
        fields.append(
            {
                "path": path,
                "value": value,
                "source": (f"{src.get('registry', '')} · {src.get('agency', '')}" if src else ""),
                "changed": _changed(src.get("changed_at", "")) if src else "",
                "readonly": bool(src and src.get("mode") == "readonly"),
                # The form offered this value; the applicant may have kept it without typing anything.
                "default": not src and path in defaults and defaults[path] == value,
            }
        )
    items = []
    async with get_runtime(request).db.uow(readonly=True) as uow:
        names = await official_names(uow, {w.assignee for w in view.items if w.assignee})
    for w in view.items:
        row = _row(w, p, names)
        row.update(
            {
                "outcome": _state(w.outcome) if w.outcome else "",
                "reason": w.reason or "",
                "actions": [a for a in w.actions.split(",") if a in worklist.OFFICIAL_ACTIONS],
                "may_act": w.status in worklist.OPEN and w.agency != "citizen" and worklist.may_work(p, w),
                "who": w.agency,
                "completed": _when(w.completed_at),
            }
        )
        items.append(row)
    return await page(
        request,
        "eservices/backoffice/dossier.html",
        {
            "d": d,
            "code": getattr(d, "code", ""),
            "status": _status_name(getattr(d, "status", "")),
            "procedure": _procedure_name(getattr(d, "procedure_id", "")),
            "fields": fields,
            "items": items,
            "branches": {
                _(BRANCH_NAMES.get(k, k)): _state(v) for k, v in worklist.combined_status(view.items).items()
            },
            "process": f"{view.process} v{view.process_version}",
            "errors": errors or [],
            "failed_item": failed_item,
            "may_apologise": may_apologise,
            "may_write": may_write,
            "messages": [
                {"at": _when(m.at), "kind": m.sender_kind, "sender": m.sender_name, "body": m.body}
                for m in messages
            ],
            "due": d.due_date.strftime("%d/%m/%Y") if d.due_date else "",
            "apology": apology or {},
        },
        status=status,
    )


@router.get("/can-bo/ho-so/{dossier_id}")
async def dossier_page(request: Request, dossier_id: str) -> Response:
    p = await _official(request)
    if p is None:
        return _login(request)
    return await _dossier_page(request, p, _uuid(dossier_id))


@router.post("/can-bo/ho-so/{dossier_id}/xin-loi")
async def apologise(request: Request, dossier_id: str) -> Response:
    p = await _official(request)
    if p is None:
        return _login(request)
    rt = get_runtime(request)
    did = _uuid(dossier_id)
    form = await request.form()
    reason, raw_due = str(form.get("reason") or ""), str(form.get("new_due") or "")
    try:
        try:
            new_due = date.fromisoformat(raw_due)
        except ValueError:
            raise ValidationFailed(
                errors=[FieldError(("new_due",), "Choose a working day after today")]
            ) from None
        async with rt.db.uow() as uow:
            await dossiers.apologise(uow, did, actor=p, reason=reason, new_due=new_due, actor_name=p.ref)
            await uow.commit()
    except ValidationFailed as exc:
        errors = [
            {"field": ".".join(map(str, e.loc)), "message": _(e.message, **e.params)} for e in exc.errors
        ]
        return await _dossier_page(
            request,
            p,
            did,
            errors=errors,
            failed_item="apology",
            status=422,
            apology={"reason": reason, "new_due": raw_due},
        )
    return RedirectResponse(f"/can-bo/ho-so/{did}", status_code=303)


@router.post("/can-bo/ho-so/{dossier_id}/tin-nhan")
async def write_to_applicant(request: Request, dossier_id: str) -> Response:
    p = await _official(request)
    if p is None:
        return _login(request)
    rt = get_runtime(request)
    did = _uuid(dossier_id)
    form = await request.form()
    try:
        # The applicant sees the agency that wrote, not the official's account id.
        agencies = ", ".join(sorted({g.agency for g in p.roles}))
        await dossiers_citizen.post_message(rt.db, p, did, str(form.get("body") or ""), sender_name=agencies)
    except ValidationFailed as exc:
        errors = [
            {"field": ".".join(map(str, e.loc)), "message": _(e.message, **e.params)} for e in exc.errors
        ]
        return await _dossier_page(request, p, did, errors=errors, failed_item="message", status=422)
    return RedirectResponse(f"/can-bo/ho-so/{did}#messages", status_code=303)


@router.post("/can-bo/viec/{item_id}")
async def act(request: Request, item_id: str) -> Response:
    p = await _official(request)
    if p is None:
        return _login(request)
    rt = get_runtime(request)
    form = await request.form()
    action, reason = str(form.get("action") or ""), str(form.get("reason") or "")
    iid = _uuid(item_id)
    try:
        item = await worklist.act(rt.db, rt, p, iid, action, reason=reason)
    except ValidationFailed as exc:
        async with rt.db.uow(readonly=True) as uow:
            found = await uow.session.get(WorkItem, iid)
        if found is None:
            raise
        errors = [
            {"field": ".".join(map(str, e.loc)), "message": _(e.message, **e.params)} for e in exc.errors
        ]
        return await _dossier_page(
            request, p, found.dossier_id, errors=errors, failed_item=str(iid), status=422
        )
    return RedirectResponse(f"/can-bo/ho-so/{item.dossier_id}", status_code=303)
