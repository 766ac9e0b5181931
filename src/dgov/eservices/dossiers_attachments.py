"""Attachments of a dossier: a file uploaded with the form, or a document picked from the wallet.

Both go through the documents domain: an upload lands in the citizen's wallet with documents' content
checks (type sniffed from the bytes, structure checked, size limit), then the wallet document is
attached to the dossier (under the draft's reference, again under the dossier code once submitted).
The dossier keeps, per required document, the wallet document's code and digest, never a browser path.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from dgov.documents import DocumentInfo, Holder, WalletItem, attach_from_wallet, documents_context
from dgov.documents import read as read_document
from dgov.documents import upload as upload_document
from dgov.documents import wallet_items as wallet_of
from dgov.eservices import dossiers
from dgov.eservices.catalogue import procedure
from dgov.eservices.dossiers import Dossier
from dgov.eservices.models import dossiers as t_dossiers
from dgov.identity import Principal, audit_by, require
from dgov.kernel import clock
from dgov.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed

if TYPE_CHECKING:
    from dgov.eservices.dossiers_citizen import Applicant
    from dgov.web.runtime import Runtime

log = logging.getLogger("dgov.eservices")


def _holder(applicant: Applicant) -> Holder:
    return Holder(applicant.id_number, applicant.principal.account_id)


def _ctx(rt: Runtime) -> Any:
    ctx = rt.extras.get("eservices.documents")
    if ctx is None:
        ctx = rt.extras["eservices.documents"] = documents_context(rt.settings, rt.db)
    return ctx


async def _editable(
    rt: Runtime, p: Principal, dossier_id: uuid.UUID, document: str
) -> tuple[Dossier, dict[str, Any]]:
    async with rt.db.uow(readonly=True) as uow:
        d = await dossiers.get(uow, dossier_id)
    require(p, "eservices.dossier.applicant", d)
    if d.status not in (dossiers.DRAFT, dossiers.SUPPLEMENT_REQUESTED):
        raise Conflict("This dossier can no longer be edited")
    spec = next((doc for doc in procedure(d.procedure_id).documents if doc["id"] == document), None)
    if spec is None:
        raise ValidationFailed(
            errors=[FieldError(("attachments", document), "This procedure does not ask for this document")]
        )
    return d, spec


async def _record(
    rt: Runtime, p: Principal, d: Dossier, document: str, info: DocumentInfo, source: str
) -> dict[str, Any]:
    item = {
        "document": document,
        "source": source,
        "code": info.code,
        "title": info.title,
        "filename": info.filename,
        "media_type": info.media_type,
        "size": info.size,
        "sha256": info.sha256,
        "at": clock.now().isoformat(),
    }
    async with rt.db.uow() as uow:
        current = await dossiers.get(uow, d.id)
        kept = [a for a in current.attachments if a.get("document") != document]
        await uow.session.execute(
            update(t_dossiers)
            .where(t_dossiers.c.id == d.id)
            .values(attachments=[*kept, item], updated_at=clock.now())
        )
        uow.audit(
            audit_by(
                p,
                action="eservices.dossier.attach",
                object_type="dossier",
                object_id=d.ref,
                details={"document": document, "code": info.code, "source": source},
            )
        )
        await uow.commit()
    return item


async def attach_upload(
    rt: Runtime, applicant: Applicant, dossier_id: uuid.UUID, document: str, *, filename: str, data: bytes
) -> dict[str, Any]:
    """Upload a file into the applicant's wallet and attach it as the procedure's document `document`
    (replacing an earlier one)."""
    p = applicant.principal
    d, spec = await _editable(rt, p, dossier_id, document)
    ctx = _ctx(rt)
    try:
        info = await upload_document(
            ctx,
            p,
            holder=_holder(applicant),
            data=data,
            filename=filename or "file",
            title=spec["name"]["vi"],
        )
    except ValidationFailed as exc:  # documents' own checks, reported on this document's field
        raise ValidationFailed(
            exc.detail,
            errors=[FieldError(("attachments", document), e.message, e.params) for e in exc.errors],
        ) from None
    await attach_from_wallet(
        ctx, p, holder=_holder(applicant), code=info.code, dossier_code=d.ref, purpose=document
    )
    return await _record(rt, p, d, document, info, "upload")


async def attach_wallet_document(
    rt: Runtime, applicant: Applicant, dossier_id: uuid.UUID, document: str, *, code: str
) -> dict[str, Any]:
    """Attach a document already in the applicant's wallet (no second upload)."""
    p = applicant.principal
    d, _spec = await _editable(rt, p, dossier_id, document)
    ctx = _ctx(rt)
    try:
        att = await attach_from_wallet(
            ctx, p, holder=_holder(applicant), code=code, dossier_code=d.ref, purpose=document
        )
    except NotFound:
        raise ValidationFailed(
            errors=[FieldError(("attachments", document), "This document is not in your wallet")]
        ) from None
    return await _record(rt, p, d, document, att.document, "wallet")


async def wallet(rt: Runtime, applicant: Applicant) -> list[WalletItem]:
    return await wallet_of(_ctx(rt), applicant.principal, _holder(applicant))


async def link_to_code(rt: Runtime, applicant: Applicant, d: Dossier) -> None:
    """Attach the dossier's documents again under its code, once it has one, so agencies find them by
    the dossier code. Done after the submission committed; a failure leaves the draft's links in place."""
    if not d.code:
        return
    for item in d.attachments:
        if not item.get("code"):
            continue
        try:
            await attach_from_wallet(
                _ctx(rt),
                applicant.principal,
                holder=_holder(applicant),
                code=item["code"],
                dossier_code=d.code,
                purpose=str(item["document"]),
            )
        except Exception:
            log.exception("could not link document %s to dossier %s", item["code"], d.code)


async def open_attachment(
    rt: Runtime, applicant: Applicant, dossier_id: uuid.UUID, code: str
) -> tuple[DocumentInfo, bytes]:
    """The applicant opens one of their dossier's attachments."""
    async with rt.db.uow(readonly=True) as uow:
        d = await dossiers.get(uow, dossier_id)
    require(applicant.principal, "eservices.dossier.applicant", d)
    if not any(a.get("code") == code for a in d.attachments):
        raise NotFound()
    return await read_document(_ctx(rt), applicant.principal, code, holder=_holder(applicant))
