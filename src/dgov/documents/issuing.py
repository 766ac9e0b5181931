"""Issuing: render a template, sign it in the agency's name, store it and put it in the holders'
wallets in one transaction; and withdrawing an issued document."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from dgov import pki
from dgov.documents import render, signing, uploads
from dgov.documents.issuers import issuer_info
from dgov.documents.models import documents, wallet
from dgov.documents.records import (
    DocumentInfo,
    DocumentsContext,
    IssuedDocument,
    get_document,
    insert_document,
    issuer_roles_of,
    new_code,
)
from dgov.documents.rules import DocumentAccess
from dgov.documents.templates_catalog import Template, template
from dgov.identity import Principal, audit_by, require
from dgov.kernel import clock
from dgov.kernel.errors import FieldError, ValidationFailed
from dgov.kernel.ids import new_id

# Loading an agency's signing material decrypts two keys and makes fresh OCSP responses and CRLs: about a
# quarter of a certificate's cost. A batch reuses it for a few seconds; a revocation is seen by the
# next batch (and verification always reads the current status).
MATERIAL_TTL = 10.0


async def signing_material(ctx: DocumentsContext, agency: str) -> Any:
    now = time.monotonic()
    cached = ctx.materials.get(agency)
    if cached is not None and now - cached[0] < MATERIAL_TTL:
        return cached[1]
    material = await pki.signing_material(ctx.settings, ctx.db, agency)
    ctx.materials[agency] = (now, material)
    return material


async def issue_pdf(
    ctx: DocumentsContext,
    tmpl: Template,
    data: dict[str, Any],
    *,
    agency: str,
    code: str,
    issued_at: datetime,
) -> bytes:
    """Render and sign (no database write): the CPU-heavy half of issuing."""
    material = await signing_material(ctx, agency)
    info = issuer_info(agency)
    issue = render.Issue(
        code=code,
        number=code,
        agency_name=material.agency_name,
        parent_agency=info.parent,
        place=info.place,
        issued_on=issued_at.astimezone(signing.VIETNAM_TIME).date(),
        signer_title=tmpl.signer_title,
        signer_name="",
    )
    pdf = render.render_pdf(tmpl, data, issue, public_url=ctx.settings.issuer)
    req = signing.SignRequest(
        code=code, title=tmpl.title_in("vi"), agency_name=material.agency_name, place=info.place
    )
    return await signing.sign_pdf(pdf, material, req, signed_at=issued_at)


async def store_issued(
    ctx: DocumentsContext,
    actor: Principal,
    *,
    template_name: str,
    data: dict[str, Any],
    holders: list[str],
    agency: str | None = None,
    unit: str | None = None,
    dossier_code: str | None = None,
    legal_basis: str | None = None,
) -> IssuedDocument:
    """Issue a document from a template: validate the data, render, sign with the agency's certificate
    (PAdES B-LT, node TSA), store it, and put it in each holder's wallet, all in one transaction.

    `holders` are personal ID numbers (e.g. both parents for a child's birth certificate; the person
    themself for a residence confirmation)."""
    tmpl = template(template_name)
    agency_code = (agency or tmpl.agency).upper()
    if pki.agency(agency_code) is None:
        raise ValidationFailed(
            "Unknown agency {code}",
            params={"code": agency_code},
            errors=[FieldError(("agency",), "Unknown agency {code}", {"code": agency_code})],
        )
    unit = unit if unit is not None else issuer_info(agency_code).unit
    access = DocumentAccess(agency=agency_code, unit=unit, issuer_roles=tmpl.issuer_roles, people=frozenset())
    require(actor, "documents.issue", access)
    tmpl.validate(data)
    bad = [h for h in holders if not (isinstance(h, str) and len(h) == 12 and h.isdigit())]
    if bad:
        raise ValidationFailed(
            errors=[FieldError(("holders",), "A holder must be a 12-digit personal ID number")]
        )
    if dossier_code:
        # One document per (dossier, template): a retried or doubled step gets the one already issued.
        already = await _issued_for(ctx, dossier_code, tmpl.name)
        if already is not None:
            return already
    now = clock.now()
    code = new_code(tmpl.code_prefix, now.astimezone(signing.VIETNAM_TIME).year)
    pdf = await issue_pdf(ctx, tmpl, data, agency=agency_code, code=code, issued_at=now)
    ctx.store.put(pdf)
    try:
        return await _store(
            ctx, actor, tmpl, data, pdf, code, now, holders, agency_code, unit, dossier_code, legal_basis
        )
    except IntegrityError:
        # Two issuers raced past the check: the unique constraint let one commit; this one signed for
        # nothing and answers with the winner's document.
        if dossier_code:
            winner = await _issued_for(ctx, dossier_code, tmpl.name)
            if winner is not None:
                return winner
        raise


async def _issued_for(ctx: DocumentsContext, dossier_code: str, template_name: str) -> IssuedDocument | None:
    async with ctx.db.uow(readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(documents.c.id, documents.c.code).where(
                    documents.c.dossier_code == dossier_code, documents.c.template == template_name
                )
            )
        ).first()
        if row is None:
            return None
        holders = tuple(
            await uow.session.scalars(
                select(wallet.c.holder_id).where(wallet.c.document_id == row.id).order_by(wallet.c.added_at)
            )
        )
    info = await get_document(ctx, row.code)
    return IssuedDocument(document=info, pdf=ctx.store.get(info.sha256), holders=holders)


async def _store(
    ctx: DocumentsContext,
    actor: Principal,
    tmpl: Template,
    data: dict[str, Any],
    pdf: bytes,
    code: str,
    now: datetime,
    holders: list[str],
    agency_code: str,
    unit: str | None,
    dossier_code: str | None,
    legal_basis: str | None,
) -> IssuedDocument:
    async with ctx.db.uow() as uow:
        doc_id, digest = await insert_document(
            uow,
            data=pdf,
            media_type=uploads.PDF,
            filename=f"{tmpl.name}-{code}.pdf",
            actor=actor,
            doc={
                "code": code,
                "kind": "issued",
                "template": tmpl.name,
                "title": tmpl.title_in("vi"),
                "subject_id": tmpl.subject_of(data),
                "owner_id": None,
                "agency": agency_code,
                "unit": unit,
                "dossier_code": dossier_code,
                "legal_basis": legal_basis or tmpl.legal_basis,
                "data": data,
            },
        )
        unique = list(dict.fromkeys(holders))
        if unique:
            await uow.session.execute(
                insert(wallet),
                [
                    {
                        "id": new_id(),
                        "holder_id": h,
                        "document_id": doc_id,
                        "source": "issued",
                        "added_at": now,
                    }
                    for h in unique
                ],
            )
        uow.audit(
            audit_by(
                actor,
                action="documents.issued",
                object_type="document",
                object_id=code,
                legal_basis=legal_basis or tmpl.legal_basis,
                details={
                    "template": tmpl.name,
                    "agency": agency_code,
                    "sha256": digest,
                    "holders": len(unique),
                    "dossier": dossier_code,
                },
            )
        )
        uow.publish(
            "documents.issued",
            {"code": code, "template": tmpl.name, "agency": agency_code, "dossier_code": dossier_code},
            key=code,
        )
        await uow.commit()
    return IssuedDocument(document=await get_document(ctx, code), pdf=pdf, holders=tuple(unique))


async def revoke_document(ctx: DocumentsContext, actor: Principal, code: str, *, reason: str) -> DocumentInfo:
    """The issuing agency withdraws an issued document: verification then reports it invalid."""
    info = await get_document(ctx, code)
    access = DocumentAccess(
        agency=info.agency, unit=None, issuer_roles=issuer_roles_of(info.template), people=frozenset()
    )
    require(actor, "documents.issue", access)
    async with ctx.db.uow() as uow:
        await uow.session.execute(update(documents).where(documents.c.code == code).values(status="revoked"))
        uow.audit(
            audit_by(
                actor,
                action="documents.revoked",
                object_type="document",
                object_id=code,
                details={"reason": reason[:500]},
            )
        )
        await uow.commit()
    return await get_document(ctx, code)
