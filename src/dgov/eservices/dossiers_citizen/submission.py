"""Submission: submit (or resubmit after a supplement request) a dossier, idempotently."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from dgov.eservices import declarations, dossiers, dossiers_attachments, forms, relations
from dgov.eservices.catalogue import Procedure, procedure
from dgov.eservices.dossiers import Dossier
from dgov.eservices.dossiers_citizen.common import Applicant, _check_key, _stored_prefill, load_own
from dgov.eservices.dossiers_citizen.drafts import _create_draft
from dgov.eservices.models import dossiers as t_dossiers
from dgov.identity import audit_by, require
from dgov.kernel.errors import Conflict, FieldError, ValidationFailed

if TYPE_CHECKING:
    from dgov.web.runtime import Runtime


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
