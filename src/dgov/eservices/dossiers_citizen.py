"""The applicant's use cases: open a draft (prefilled once-only), save it, submit it idempotently,
supply what was asked for, withdraw, write to the agency, rate the service at the end."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from dgov.eservices import declarations, dossiers, dossiers_attachments, forms, prefill, relations
from dgov.eservices.catalogue import Procedure, procedure
from dgov.eservices.dossiers import Dossier
from dgov.eservices.models import dossiers as t_dossiers
from dgov.eservices.models import messages as t_messages
from dgov.identity import Principal, audit_by, require
from dgov.kernel import clock
from dgov.kernel.errors import Conflict, FieldError, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database, UnitOfWork

if TYPE_CHECKING:
    from dgov.web.runtime import Runtime

MAX_MESSAGE = 4000
KEY_CHARS = 64


@dataclass(frozen=True)
class Applicant:
    """The logged-in citizen filing (for themself, or for a child in their care: principal.acting_for)."""

    principal: Principal
    id_number: str
    full_name: str


@dataclass(frozen=True)
class Message:
    id: uuid.UUID
    at: datetime
    sender_kind: str
    sender_name: str
    body: str


def new_key() -> str:
    return secrets.token_urlsafe(24)


def _check_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > KEY_CHARS:
        raise ValidationFailed(
            errors=[FieldError(("idempotency_key",), "This is not in the expected format")]
        )
    return key


def _stored_prefill(d: Dossier) -> tuple[dict[str, Any], set[str]]:
    values = {p: s.get("value") for p, s in d.sources.items()}
    readonly = {p for p, s in d.sources.items() if s.get("mode") == "readonly"}
    return values, readonly


async def _draft_values(
    rt: Runtime, applicant: Applicant, proc: Procedure, key: str, dossier_id: uuid.UUID
) -> dict[str, Any]:
    """A new draft's row: what the registries already know, read through the exchange."""
    p = applicant.principal
    found = await prefill.collect(rt, proc, id_number=applicant.id_number, reference=f"draft-{dossier_id}")
    sources = {path: {**src.as_dict(), "value": found.values[path]} for path, src in found.sources.items()}
    now = clock.now()
    return {
        "id": dossier_id,
        "code": None,
        "procedure_id": proc.id,
        "procedure_digest": proc.digest,
        "agency_code": proc.agency["code"],
        "agency_member": proc.agency["member"],
        "applicant_account": p.account_id,
        "applicant_id_number": applicant.id_number,
        "applicant_name": applicant.full_name,
        "on_behalf_of": p.acting_for,
        "commune_code": found.commune_code,
        "province_code": found.province_code,
        "status": dossiers.DRAFT,
        "idempotency_key": key,
        "data": forms.initial(proc, found.values),
        "sources": sources,
        "attachments": [],
        "results": [],
        "created_at": now,
        "updated_at": now,
        "submitted_at": None,
        "due_date": None,
        "closed_at": None,
        "rating": None,
        "rating_comment": None,
    }


async def _create_draft(
    rt: Runtime, applicant: Applicant, proc: Procedure, key: str, dossier_id: uuid.UUID | None = None
) -> Dossier:
    p = applicant.principal
    require(p, "eservices.dossier.create")
    dossier_id = dossier_id or new_id()
    # The prefill is read again here, never taken from the page: what the browser shows is only a preview.
    row = await _draft_values(rt, applicant, proc, key, dossier_id)
    async with rt.db.uow() as uow:
        await uow.session.execute(t_dossiers.insert().values(**row))
        uow.audit(
            audit_by(
                p,
                action="eservices.dossier.draft",
                object_type="dossier",
                object_id=f"draft-{dossier_id}",
                details={"procedure": proc.id, "prefilled": sorted(row["sources"])},
            )
        )
        try:
            await uow.commit()
        except IntegrityError:
            await uow.rollback()
            raise Conflict("This form was already sent") from None
        return await dossiers.get(uow, dossier_id)


async def open_draft(rt: Runtime, applicant: Applicant, procedure_id: str) -> Dossier:
    """The applicant's open draft of this procedure, or a new one prefilled from the registries."""
    proc = procedure(procedure_id)
    p = applicant.principal
    require(p, "eservices.dossier.create")
    async with rt.db.uow(readonly=True) as uow:
        existing = await _latest_draft(uow, p, proc)
    if existing is not None:
        return existing
    return await _create_draft(rt, applicant, proc, new_key())


async def draft_or_preview(rt: Runtime, applicant: Applicant, procedure_id: str) -> Dossier:
    """What the form page shows: the applicant's open draft of this procedure, or else an unsaved preview
    (prefilled, with a fresh id and key) — a GET stores nothing; the first POST creates the draft."""
    proc = procedure(procedure_id)
    p = applicant.principal
    require(p, "eservices.dossier.create")
    async with rt.db.uow(readonly=True) as uow:
        existing = await _latest_draft(uow, p, proc)
    if existing is not None:
        return existing
    return Dossier(**await _draft_values(rt, applicant, proc, new_key(), new_id()))


async def draft_for_post(
    rt: Runtime, applicant: Applicant, procedure_id: str, draft_id: uuid.UUID, key: str
) -> Dossier:
    """The draft a posted form is about: the applicant's own, or — on the first POST after a preview —
    created now under the id and key the page carried (a racing second POST finds the first one's)."""
    proc = procedure(procedure_id)
    p = applicant.principal
    require(p, "eservices.dossier.create")
    async with rt.db.uow(readonly=True) as uow:
        exists = await uow.session.scalar(select(t_dossiers.c.id).where(t_dossiers.c.id == draft_id))
        if exists is not None:
            return await load_own(uow, p, draft_id)
    try:
        # A page posted without a key (e.g. only to pick a child) gets one; submission sets its own.
        return await _create_draft(rt, applicant, proc, _check_key(key) if key else new_key(), draft_id)
    except Conflict:
        async with rt.db.uow(readonly=True) as uow:
            return await load_own(uow, p, draft_id)


async def _latest_draft(uow: UnitOfWork, p: Principal, proc: Procedure) -> Dossier | None:
    row = (
        await uow.session.execute(
            select(t_dossiers.c.id)
            .where(
                t_dossiers.c.applicant_account == p.account_id,
                t_dossiers.c.procedure_id == proc.id,
                t_dossiers.c.status == dossiers.DRAFT,
            )
            .order_by(t_dossiers.c.created_at.desc())
            .limit(1)
        )
    ).first()
    return await dossiers.get(uow, row[0]) if row is not None else None


async def children_for(rt: Runtime, applicant: Applicant, d: Dossier) -> list[prefill.Child]:
    """The applicant's children the draft can be about (empty unless the procedure is about a child)."""
    proc = procedure(d.procedure_id)
    if not prefill.has_child(proc):
        return []
    return await prefill.children(rt, proc, id_number=applicant.id_number, reference=d.ref)


async def choose_child(
    rt: Runtime, applicant: Applicant, dossier_id: uuid.UUID, child_id_number: str
) -> Dossier:
    """Prefill the draft's child fields (read-only, with their source) about one of the applicant's
    children. The ID number comes from the browser: it is taken only if the registries, read through
    the exchange, say this person is a child of the applicant in the applicant's household."""
    p = applicant.principal
    require(p, "eservices.dossier.create")
    async with rt.db.uow(readonly=True) as uow:
        d = await load_own(uow, p, dossier_id)
    if d.status not in (dossiers.DRAFT, dossiers.SUPPLEMENT_REQUESTED):
        raise Conflict("This dossier can no longer be edited")
    proc = procedure(d.procedure_id)
    wanted = (child_id_number or "").strip()
    kids = (
        await prefill.children(rt, proc, id_number=applicant.id_number, reference=d.ref)
        if prefill.has_child(proc)
        else []
    )
    if wanted not in {k.id_number for k in kids}:
        raise ValidationFailed(errors=[FieldError(("child", "id_number"), "Choose one of the options")])
    found = await prefill.collect_child(rt, proc, child_id_number=wanted, reference=d.ref)
    paths = prefill.child_paths(proc)
    sources = {k: v for k, v in d.sources.items() if k not in paths}
    sources.update(
        {path: {**src.as_dict(), "value": found.values[path]} for path, src in found.sources.items()}
    )
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in d.data.items()}
    for path in paths:
        section, name = path.split(".", 1)
        if isinstance(data.get(section), dict):
            data[section].pop(name, None)
    for path, value in found.values.items():
        forms.set_path(data, path, value)
    async with rt.db.uow() as uow:
        result = await uow.session.execute(
            update(t_dossiers)
            .where(t_dossiers.c.id == d.id, t_dossiers.c.status == d.status)
            .values(data=data, sources=sources, updated_at=clock.now())
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("This dossier can no longer be edited")
        uow.audit(
            audit_by(
                p,
                action="eservices.dossier.child",
                object_type="dossier",
                object_id=d.ref,
                details={"procedure": proc.id, "child": wanted, "prefilled": sorted(found.values)},
            )
        )
        await uow.commit()
        return await dossiers.get(uow, d.id)


async def load_own(uow: UnitOfWork, p: Principal, dossier_id: uuid.UUID) -> Dossier:
    d = await dossiers.get(uow, dossier_id)
    require(p, "eservices.dossier.applicant", d)
    return d


async def save_draft(
    db: Database, applicant: Applicant, dossier_id: uuid.UUID, data: dict[str, Any]
) -> Dossier:
    """Keep what was typed so far; nothing is checked except that read-only values stay the registry's."""
    async with db.uow() as uow:
        d = await load_own(uow, applicant.principal, dossier_id)
        if d.status not in (dossiers.DRAFT, dossiers.SUPPLEMENT_REQUESTED):
            raise Conflict("This dossier can no longer be edited")
        values, readonly = _stored_prefill(d)
        clean = forms.authoritative(data, values, readonly)
        too_long = [
            f for f in forms.validate(procedure(d.procedure_id), clean) if f.message == "This is too long"
        ]
        if too_long:
            raise ValidationFailed(errors=too_long)
        await uow.session.execute(
            update(t_dossiers).where(t_dossiers.c.id == d.id).values(data=clean, updated_at=clock.now())
        )
        await uow.commit()
        return await dossiers.get(uow, d.id)


def _missing_documents(proc: Procedure, d: Dossier) -> list[FieldError]:
    have = {a.get("document") for a in d.attachments}
    return [
        FieldError(("attachments", doc["id"]), "Attach this document")
        for doc in proc.documents
        if doc["required"] and doc["id"] not in have
    ]


async def submit(
    rt: Runtime,
    applicant: Applicant,
    procedure_id: str,
    data: dict[str, Any],
    *,
    idempotency_key: str,
    draft_id: uuid.UUID | None = None,
) -> Dossier:
    """Submit (or, after a supplement request, resubmit) a dossier. The same key twice gives the same
    dossier: a double click, a retried request or two racing ones make one dossier and one code."""
    key = _check_key(idempotency_key)
    proc = procedure(procedure_id)
    p = applicant.principal
    require(p, "eservices.dossier.create")
    db = rt.db
    if draft_id is None:
        async with db.uow(readonly=True) as uow:
            row = (
                await uow.session.execute(
                    select(t_dossiers.c.id).where(
                        t_dossiers.c.applicant_account == p.account_id, t_dossiers.c.idempotency_key == key
                    )
                )
            ).first()
        if row is not None:
            draft_id = row[0]
        else:
            try:
                draft_id = (await _create_draft(rt, applicant, proc, key)).id
            except Conflict:  # the same key was used a moment ago by a racing request
                return await submit(rt, applicant, procedure_id, data, idempotency_key=key)
    async with db.uow(readonly=True) as uow:
        d = await load_own(uow, p, draft_id)
    if d.procedure_id != proc.id:
        raise Conflict("This draft belongs to another procedure")
    if d.status not in (dossiers.DRAFT, dossiers.SUPPLEMENT_REQUESTED):
        if d.idempotency_key == key:
            return d  # already submitted with this very form: the same dossier again
        raise Conflict("This dossier was already submitted")
    values, readonly = _stored_prefill(d)
    clean = forms.authoritative(data, values, readonly)
    errors = forms.validate(proc, clean) + _missing_documents(proc, d)
    if errors:
        raise ValidationFailed(errors=errors)
    resubmission = d.status == dossiers.SUPPLEMENT_REQUESTED
    # Everyone the dossier names is resolved against the registries, through the exchange, before
    # anything is submitted (outside the write transaction: these are signed calls to other agencies).
    checked = await relations.check(rt, proc, applicant.id_number, clean, reference=d.ref)
    errors = list(checked.errors)
    if resubmission:  # the process is running: it cannot stop to wait for someone's confirmation
        errors += [FieldError(w.loc, relations.NO_WAITING) for w in checked.declarations]
    if errors:
        raise ValidationFailed(errors=errors)
    async with db.uow() as uow:
        await uow.session.execute(
            update(t_dossiers)
            .where(t_dossiers.c.id == d.id, t_dossiers.c.status == d.status)
            .values(data=clean, idempotency_key=key)
        )
        uow.audit(
            audit_by(
                p,
                action="eservices.dossier.relations_checked",
                object_type="dossier",
                object_id=d.ref,
                details={
                    "resolved": sorted(checked.resolved),
                    "legal_basis": checked.bases,
                    "to_confirm": sorted(f"{w.kind}:{w.role}" for w in checked.declarations),
                },
            )
        )
        try:
            if not resubmission:
                d = await dossiers.assign_code(uow, d)
            d = await dossiers.transition(
                uow, d.id, dossiers.SUBMITTED, actor=p, actor_name=applicant.full_name
            )
            if not resubmission:
                if checked.declarations:
                    # Nothing may be written to the named people's records before they confirm: the
                    # process starts with the last confirmation (`declarations.decide`).
                    await declarations.record(uow, d, checked.declarations, p)
                else:
                    await dossiers.workflow_module().start(uow, d)
            await uow.commit()
        except Conflict:
            await uow.rollback()
            async with db.uow(readonly=True) as again:
                current = await dossiers.get(again, d.id)
            if current.status != dossiers.DRAFT and current.idempotency_key == key:
                return current
            raise
    if not resubmission:
        await dossiers_attachments.link_to_code(rt, applicant, d)
    return d


async def withdraw(db: Database, p: Principal, dossier_id: uuid.UUID, reason: str) -> Dossier:
    async with db.uow() as uow:
        await load_own(uow, p, dossier_id)
        d = await dossiers.transition(
            uow, dossier_id, dossiers.WITHDRAWN, actor=p, note=reason.strip() or None
        )
        await uow.commit()
        return d


async def rate(db: Database, p: Principal, dossier_id: uuid.UUID, stars: int, comment: str = "") -> Dossier:
    async with db.uow() as uow:
        d = await load_own(uow, p, dossier_id)
        if d.status not in (dossiers.RESULT_ISSUED, dossiers.REJECTED):
            raise Conflict("You can rate the service once the dossier has ended")
        if d.rating is not None:
            raise Conflict("You have already rated this service")
        if not 1 <= stars <= 5:
            raise ValidationFailed(errors=[FieldError(("rating",), "Choose from 1 to 5 stars")])
        if len(comment) > MAX_MESSAGE:
            raise ValidationFailed(errors=[FieldError(("comment",), "This is too long")])
        await uow.session.execute(
            update(t_dossiers)
            .where(t_dossiers.c.id == d.id, t_dossiers.c.rating.is_(None))
            .values(rating=stars, rating_comment=comment.strip() or None)
        )
        uow.audit(
            audit_by(
                p,
                action="eservices.dossier.rated",
                object_type="dossier",
                object_id=d.ref,
                details={"rating": stars},
            )
        )
        uow.publish(
            "eservices.dossier.rated", {"dossier_id": str(d.id), "code": d.code, "rating": stars}, key=d.ref
        )
        await uow.commit()
        return await dossiers.get(uow, d.id)


async def post_message(
    db: Database, p: Principal, dossier_id: uuid.UUID, body: str, *, sender_name: str
) -> Message:
    """A message on the dossier, from its applicant or from an official who processes it."""
    body = body.strip()
    if not body:
        raise ValidationFailed(errors=[FieldError(("body",), "Write a message")])
    if len(body) > MAX_MESSAGE:
        raise ValidationFailed(errors=[FieldError(("body",), "This is too long")])
    async with db.uow() as uow:
        d = await dossiers.get(uow, dossier_id)
        require(p, "eservices.dossier.view", d)
        if p.kind == "citizen":
            require(p, "eservices.dossier.applicant", d)
            kind = "citizen"
        else:
            require(p, "eservices.dossier.process", d)
            kind = "official"
        msg = Message(new_id(), clock.now(), kind, sender_name, body)
        await uow.session.execute(
            t_messages.insert().values(
                id=msg.id,
                dossier_id=d.id,
                at=msg.at,
                sender_kind=kind,
                sender=p.ref,
                sender_name=sender_name,
                body=body,
            )
        )
        uow.audit(audit_by(p, action="eservices.dossier.message", object_type="dossier", object_id=d.ref))
        uow.publish(
            "eservices.dossier.message", {"dossier_id": str(d.id), "code": d.code, "from": kind}, key=d.ref
        )
        await uow.commit()
        return msg


async def messages_of(uow: UnitOfWork, dossier_id: uuid.UUID) -> list[Message]:
    rows = (
        (
            await uow.session.execute(
                select(t_messages)
                .where(t_messages.c.dossier_id == dossier_id)
                .order_by(t_messages.c.at, t_messages.c.id)
            )
        )
        .mappings()
        .all()
    )
    return [Message(r["id"], r["at"], r["sender_kind"], r["sender_name"], r["body"]) for r in rows]


async def mine(db: Database, p: Principal) -> list[Dossier]:
    require(p, "eservices.dossier.create")
    async with db.uow(readonly=True) as uow:
        rows = (
            (
                await uow.session.execute(
                    select(t_dossiers)
                    .where(t_dossiers.c.applicant_account == p.account_id)
                    .order_by(t_dossiers.c.created_at.desc())
                )
            )
            .mappings()
            .all()
        )
    return [Dossier.from_row(r) for r in rows]


async def follow(
    db: Database, p: Principal, dossier_id: uuid.UUID
) -> tuple[Dossier, list[dossiers.Event], list[Message]]:
    """A dossier with its timeline and messages, for whoever may see it."""
    async with db.uow(readonly=True) as uow:
        d = await dossiers.get(uow, dossier_id)
        require(p, "eservices.dossier.view", d)
        return d, await dossiers.events_of(uow, d.id), await messages_of(uow, d.id)
