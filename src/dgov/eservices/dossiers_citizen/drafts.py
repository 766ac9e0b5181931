"""Drafts: open one (prefilled once-only from the registries), preview it, pick the child it is about,
save what was typed so far."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from dgov.eservices import dossiers, forms, prefill
from dgov.eservices.catalogue import Procedure, procedure
from dgov.eservices.dossiers import Dossier
from dgov.eservices.dossiers_citizen.common import Applicant, _check_key, _stored_prefill, load_own, new_key
from dgov.eservices.models import dossiers as t_dossiers
from dgov.identity import Principal, audit_by, require
from dgov.kernel import clock
from dgov.kernel.errors import Conflict, FieldError, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database, UnitOfWork

if TYPE_CHECKING:
    from dgov.web.runtime import Runtime


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
