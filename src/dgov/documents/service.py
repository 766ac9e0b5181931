"""Document use cases: uploads, issued documents (render, sign, store, into wallets), the wallet,
reads with access logging, attaching a wallet document to a dossier, and verification.

Every use case checks authorisation here (`require`), whatever the entry point. Every read of a
person's document by someone other than its holders (an official, an agency) is written to
`documents_reads` (shown to the person in their wallet) and to the audit chain, in the read's own
transaction; the registries' access log is not used because it records registry fields, not files.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from dgov.documents import uploads
from dgov.documents.issuing import issue_pdf, revoke_document, store_issued
from dgov.documents.models import attachments, documents, reads, wallet
from dgov.documents.public import Verification, lookup, mask_id, public_summary, verify
from dgov.documents.records import (
    DEFAULT_MAX_UPLOAD,
    AttachedDocument,
    DocumentInfo,
    DocumentsContext,
    IssuedDocument,
    WalletItem,
    access_of,
    agency_name,
    context,
    get_document,
    holders_of,
    info_of,
    insert_document,
    joined,
    new_code,
)
from dgov.documents.rules import Holder
from dgov.identity import Principal, audit_by, require
from dgov.kernel import clock
from dgov.kernel.errors import FieldError, NotFound, ValidationFailed
from dgov.kernel.ids import new_id

__all__ = [
    "DEFAULT_MAX_UPLOAD",
    "AttachedDocument",
    "DocumentInfo",
    "DocumentsContext",
    "IssuedDocument",
    "Verification",
    "WalletItem",
    "agency_name",
    "attach_from_wallet",
    "attachments_of",
    "context",
    "issue_pdf",
    "lookup",
    "mask_id",
    "new_code",
    "public_summary",
    "read",
    "reads_of",
    "revoke_document",
    "store_issued",
    "upload",
    "verify",
    "wallet_items",
]


async def upload(
    ctx: DocumentsContext,
    actor: Principal,
    *,
    holder: Holder,
    data: bytes,
    filename: str,
    declared_type: str | None = None,
    title: str | None = None,
) -> DocumentInfo:
    """A person's own upload into their wallet; refused content leaves no trace on disk or in the DB."""
    require(actor, "documents.upload", holder)
    detected = uploads.detect(
        data, filename=filename, declared_type=declared_type, max_bytes=ctx.max_upload_bytes
    )
    clean_title = (title or "").strip()[:300] or filename.rsplit("/", 1)[-1][:300] or "Tài liệu"
    code = new_code("TL", clock.now().year)
    ctx.store.put(data)
    async with ctx.db.uow() as uow:
        doc_id, digest = await insert_document(
            uow,
            data=data,
            media_type=detected.media_type,
            filename=filename or f"upload{detected.extension}",
            actor=actor,
            doc={
                "code": code,
                "kind": "upload",
                "template": None,
                "title": clean_title,
                "subject_id": holder.id_number,
                "owner_id": holder.id_number,
                "agency": None,
                "unit": None,
                "dossier_code": None,
                "legal_basis": None,
                "data": {},
            },
        )
        await uow.session.execute(
            insert(wallet).values(
                id=new_id(),
                holder_id=holder.id_number,
                document_id=doc_id,
                source="upload",
                added_at=clock.now(),
            )
        )
        uow.audit(
            audit_by(
                actor,
                action="documents.uploaded",
                object_type="document",
                object_id=code,
                details={"sha256": digest, "media_type": detected.media_type, "size": len(data)},
            )
        )
        await uow.commit()
    return await get_document(ctx, code)


async def wallet_items(ctx: DocumentsContext, actor: Principal, holder: Holder) -> list[WalletItem]:
    require(actor, "documents.wallet.view", holder)
    q = (
        joined()
        .add_columns(wallet.c.source, wallet.c.added_at)
        .join(wallet, wallet.c.document_id == documents.c.id)
        .where(wallet.c.holder_id == holder.id_number)
        .order_by(wallet.c.added_at.desc())
    )
    async with ctx.db.uow(readonly=True) as uow:
        rows = (await uow.session.execute(q)).all()
    return [WalletItem(document=info_of(r), source=r.source, added_at=r.added_at) for r in rows]


async def reads_of(
    ctx: DocumentsContext, actor: Principal, holder: Holder, *, limit: int = 100
) -> list[dict[str, Any]]:
    """Who (other than the person) read the person's documents, newest first."""
    require(actor, "documents.wallet.view", holder)
    q = (
        select(reads, documents.c.code, documents.c.title)
        .join(documents, documents.c.id == reads.c.document_id)
        .where(reads.c.subject_id == holder.id_number)
        .order_by(reads.c.at.desc())
        .limit(limit)
    )
    async with ctx.db.uow(readonly=True) as uow:
        rows = (await uow.session.execute(q)).all()
    return [
        {
            "at": r.at,
            "accessor": r.accessor,
            "accessor_name": r.accessor_name,
            "purpose": r.purpose,
            "dossier_code": r.dossier_code,
            "code": r.code,
            "title": r.title,
        }
        for r in rows
    ]


async def read(
    ctx: DocumentsContext,
    actor: Principal,
    code: str,
    *,
    holder: Holder | None = None,
    purpose: str = "",
    accessor_name: str = "",
    dossier_code: str | None = None,
    dossier_agency: str | None = None,
) -> tuple[DocumentInfo, bytes]:
    """The document and its bytes. An official's read is logged for every person the document
    concerns (subject, holders, uploader) in the same transaction; a purpose is then required."""
    async with ctx.db.uow() as uow:
        s = uow.session
        row = (
            await s.execute(joined().add_columns(documents.c.owner_id).where(documents.c.code == code))
        ).first()
        if row is None:
            raise NotFound("No document has this code")
        people = await holders_of(s, row.id)
        if dossier_agency is not None:
            attached = (
                await s.execute(
                    select(attachments.c.id).where(
                        (attachments.c.document_id == row.id)
                        & (attachments.c.dossier_code == (dossier_code or ""))
                    )
                )
            ).first()
            if attached is None and row.dossier_code != dossier_code:
                dossier_agency = None
        access = access_of(row, people, holder, dossier_agency)
        require(actor, "documents.document.read", access)
        own = holder is not None and holder.id_number in access.people and actor.kind == "citizen"
        if not own:
            if not purpose.strip():
                raise ValidationFailed(
                    errors=[FieldError(("purpose",), "State the purpose of reading this document")]
                )
            now = clock.now()
            subjects = sorted(access.people)
            if subjects:
                await s.execute(
                    insert(reads),
                    [
                        {
                            "id": new_id(),
                            "subject_id": p,
                            "document_id": row.id,
                            "at": now,
                            "accessor": actor.ref,
                            "accessor_name": accessor_name or actor.ref,
                            "purpose": purpose[:2000],
                            "dossier_code": dossier_code,
                        }
                        for p in subjects
                    ],
                )
            uow.audit(
                audit_by(
                    actor,
                    action="documents.read",
                    object_type="document",
                    object_id=code,
                    details={"purpose": purpose[:500], "dossier": dossier_code, "people": len(subjects)},
                )
            )
            await uow.commit()
    info = info_of(row)
    return info, ctx.store.get(info.sha256)


async def attach_from_wallet(
    ctx: DocumentsContext,
    actor: Principal,
    *,
    holder: Holder,
    code: str,
    dossier_code: str,
    purpose: str = "attachment",
) -> AttachedDocument:
    """Attach a document already in the holder's wallet to a dossier, at its current version, without
    uploading it again. Attaching the same document for the same purpose twice returns the first."""
    if not dossier_code.strip():
        raise ValidationFailed(errors=[FieldError(("dossier_code",), "A dossier code is required")])
    async with ctx.db.uow() as uow:
        s = uow.session
        row = (
            await s.execute(joined().add_columns(documents.c.owner_id).where(documents.c.code == code))
        ).first()
        if row is None:
            raise NotFound("No document has this code")
        people = await holders_of(s, row.id)
        require(actor, "documents.document.attach", access_of(row, people, holder, None))
        existing = (
            await s.execute(
                select(attachments).where(
                    (attachments.c.document_id == row.id)
                    & (attachments.c.dossier_code == dossier_code)
                    & (attachments.c.purpose == purpose)
                )
            )
        ).first()
        if existing is not None:
            return AttachedDocument(dossier_code, info_of(row), existing.version, existing.attached_at)
        now = clock.now()
        await s.execute(
            insert(attachments).values(
                id=new_id(),
                dossier_code=dossier_code,
                document_id=row.id,
                version=row.version,
                purpose=purpose[:100],
                attached_by=actor.ref,
                attached_at=now,
            )
        )
        uow.audit(
            audit_by(
                actor,
                action="documents.attached",
                object_type="document",
                object_id=code,
                details={"dossier": dossier_code, "purpose": purpose[:100], "version": row.version},
            )
        )
        await uow.commit()
    return AttachedDocument(dossier_code, info_of(row), row.version, now)


async def attachments_of(ctx: DocumentsContext, dossier_code: str) -> list[AttachedDocument]:
    """What a dossier has attached (metadata only: reading the bytes goes through `read`)."""
    q = (
        joined()
        .add_columns(attachments.c.version.label("att_version"), attachments.c.attached_at)
        .join(attachments, attachments.c.document_id == documents.c.id)
        .where(attachments.c.dossier_code == dossier_code)
        .order_by(attachments.c.attached_at)
    )
    async with ctx.db.uow(readonly=True) as uow:
        rows = (await uow.session.execute(q)).all()
    return [AttachedDocument(dossier_code, info_of(r), r.att_version, r.attached_at) for r in rows]
