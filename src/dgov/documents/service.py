"""Document use cases: uploads, issued documents (render, sign, store, into wallets), the wallet,
reads with access logging, attaching a wallet document to a dossier, and verification.

Every use case checks authorisation here (`require`), whatever the entry point. Every read of a
person's document by someone other than its holders (an official, an agency) is written to
`documents_reads` (shown to the person in their wallet) and to the audit chain, in the read's own
transaction; the registries' access log is not used because it records registry fields, not files.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from dgov import pki
from dgov.documents import render, signing, uploads
from dgov.documents.issuers import issuer_info
from dgov.documents.models import attachments, blobs, documents, reads, versions, wallet
from dgov.documents.rules import DocumentAccess, Holder
from dgov.documents.storage import BlobStore, LocalBlobStore, sha256_of
from dgov.documents.templates_catalog import Template, pick, template
from dgov.documents.verify import Verdict, check
from dgov.identity import Principal, audit_by, require
from dgov.kernel import clock
from dgov.kernel.config import Settings
from dgov.kernel.errors import FieldError, NotFound, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database

DEFAULT_MAX_UPLOAD = 10 * 1024 * 1024
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed from paper


@dataclass
class DocumentsContext:
    settings: Settings
    db: Database
    store: BlobStore
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD


def context(settings: Settings, db: Database) -> DocumentsContext:
    limit = settings.documents_max_upload_bytes
    return DocumentsContext(
        settings=settings, db=db, store=LocalBlobStore(settings.files_dir / "blobs"), max_upload_bytes=limit
    )


@dataclass(frozen=True)
class DocumentInfo:
    id: uuid.UUID
    code: str
    kind: str
    template: str | None
    title: str
    agency: str | None
    agency_name: str
    status: str
    version: int
    sha256: str
    media_type: str
    size: int
    filename: str
    created_at: datetime
    subject_id: str | None = None
    dossier_code: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WalletItem:
    document: DocumentInfo
    source: str
    added_at: datetime


@dataclass(frozen=True)
class IssuedDocument:
    document: DocumentInfo
    pdf: bytes
    holders: tuple[str, ...]


@dataclass(frozen=True)
class AttachedDocument:
    dossier_code: str
    document: DocumentInfo
    version: int
    attached_at: datetime


@dataclass
class Verification:
    verdict: Verdict
    document: DocumentInfo | None
    matches_registered: bool
    summary: list[dict[str, str]]

    @property
    def valid(self) -> bool:
        return self.verdict.valid and (self.document is None or self.document.status == "valid")


def agency_name(code: str | None) -> str:
    if not code:
        return ""
    a = pki.agency(code)
    return a.name_vi if a else code


def new_code(prefix: str, year: int) -> str:
    return f"{prefix}-{year}-" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))


# --- reading rows ----------------------------------------------------------------------------------

_COLUMNS = (
    documents.c.id,
    documents.c.code,
    documents.c.kind,
    documents.c.template,
    documents.c.title,
    documents.c.agency,
    documents.c.unit,
    documents.c.status,
    documents.c.version,
    documents.c.subject_id,
    documents.c.owner_id,
    documents.c.dossier_code,
    documents.c.data,
    documents.c.created_at,
    versions.c.sha256,
    versions.c.media_type,
    versions.c.size,
    versions.c.filename,
)


def _joined() -> Any:
    return select(*_COLUMNS).join(
        versions, (versions.c.document_id == documents.c.id) & (versions.c.version == documents.c.version)
    )


def _info(row: Any) -> DocumentInfo:
    return DocumentInfo(
        id=row.id,
        code=row.code,
        kind=row.kind,
        template=row.template,
        title=row.title,
        agency=row.agency,
        agency_name=agency_name(row.agency),
        status=row.status,
        version=row.version,
        sha256=row.sha256,
        media_type=row.media_type,
        size=row.size,
        filename=row.filename,
        created_at=row.created_at,
        subject_id=row.subject_id,
        dossier_code=row.dossier_code,
        data=dict(row.data or {}),
    )


async def _holders_of(session: Any, document_id: uuid.UUID) -> set[str]:
    rows = await session.execute(select(wallet.c.holder_id).where(wallet.c.document_id == document_id))
    return {r.holder_id for r in rows}


def _issuer_roles(template_name: str | None) -> tuple[str, ...]:
    if not template_name:
        return ()
    try:
        return template(template_name).issuer_roles
    except NotFound:
        return ()


def _access(row: Any, people: set[str], holder: Holder | None, dossier_agency: str | None) -> DocumentAccess:
    everyone = set(people) | {p for p in (row.owner_id, row.subject_id) if p}
    return DocumentAccess(
        agency=row.agency,
        unit=row.unit,
        issuer_roles=_issuer_roles(row.template),
        people=frozenset(everyone),
        holder=holder,
        dossier_agency=dossier_agency,
    )


# --- storing -----------------------------------------------------------------------------------------


async def _insert_document(
    uow: Any, *, data: bytes, media_type: str, filename: str, actor: Principal, doc: dict[str, Any]
) -> tuple[uuid.UUID, str]:
    now = clock.now()
    digest = sha256_of(data)
    s = uow.session
    if (await s.execute(select(blobs.c.sha256).where(blobs.c.sha256 == digest))).first() is None:
        await s.execute(
            insert(blobs).values(sha256=digest, size=len(data), media_type=media_type, created_at=now)
        )
    doc_id = new_id()
    await s.execute(
        insert(documents).values(
            id=doc_id, version=1, status="valid", created_at=now, created_by=actor.ref, **doc
        )
    )
    await s.execute(
        insert(versions).values(
            document_id=doc_id,
            version=1,
            sha256=digest,
            media_type=media_type,
            size=len(data),
            filename=filename[:255],
            created_at=now,
            created_by=actor.ref,
        )
    )
    return doc_id, digest


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
        doc_id, digest = await _insert_document(
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
    return await _get(ctx, code)


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
    material = await pki.signing_material(ctx.settings, ctx.db, agency)
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
    now = clock.now()
    code = new_code(tmpl.code_prefix, now.astimezone(signing.VIETNAM_TIME).year)
    pdf = await issue_pdf(ctx, tmpl, data, agency=agency_code, code=code, issued_at=now)
    ctx.store.put(pdf)
    async with ctx.db.uow() as uow:
        doc_id, digest = await _insert_document(
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
    return IssuedDocument(document=await _get(ctx, code), pdf=pdf, holders=tuple(unique))


# --- reading -----------------------------------------------------------------------------------------


async def _get(ctx: DocumentsContext, code: str) -> DocumentInfo:
    async with ctx.db.uow(readonly=True) as uow:
        row = (await uow.session.execute(_joined().where(documents.c.code == code))).first()
    if row is None:
        raise NotFound("No document has this code")
    return _info(row)


async def wallet_items(ctx: DocumentsContext, actor: Principal, holder: Holder) -> list[WalletItem]:
    require(actor, "documents.wallet.view", holder)
    q = (
        _joined()
        .add_columns(wallet.c.source, wallet.c.added_at)
        .join(wallet, wallet.c.document_id == documents.c.id)
        .where(wallet.c.holder_id == holder.id_number)
        .order_by(wallet.c.added_at.desc())
    )
    async with ctx.db.uow(readonly=True) as uow:
        rows = (await uow.session.execute(q)).all()
    return [WalletItem(document=_info(r), source=r.source, added_at=r.added_at) for r in rows]


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
            await s.execute(_joined().add_columns(documents.c.owner_id).where(documents.c.code == code))
        ).first()
        if row is None:
            raise NotFound("No document has this code")
        people = await _holders_of(s, row.id)
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
        access = _access(row, people, holder, dossier_agency)
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
    info = _info(row)
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
            await s.execute(_joined().add_columns(documents.c.owner_id).where(documents.c.code == code))
        ).first()
        if row is None:
            raise NotFound("No document has this code")
        people = await _holders_of(s, row.id)
        require(actor, "documents.document.attach", _access(row, people, holder, None))
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
            return AttachedDocument(dossier_code, _info(row), existing.version, existing.attached_at)
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
    return AttachedDocument(dossier_code, _info(row), row.version, now)


async def attachments_of(ctx: DocumentsContext, dossier_code: str) -> list[AttachedDocument]:
    """What a dossier has attached (metadata only: reading the bytes goes through `read`)."""
    q = (
        _joined()
        .add_columns(attachments.c.version.label("att_version"), attachments.c.attached_at)
        .join(attachments, attachments.c.document_id == documents.c.id)
        .where(attachments.c.dossier_code == dossier_code)
        .order_by(attachments.c.attached_at)
    )
    async with ctx.db.uow(readonly=True) as uow:
        rows = (await uow.session.execute(q)).all()
    return [AttachedDocument(dossier_code, _info(r), r.att_version, r.attached_at) for r in rows]


async def revoke_document(ctx: DocumentsContext, actor: Principal, code: str, *, reason: str) -> DocumentInfo:
    """The issuing agency withdraws an issued document: verification then reports it invalid."""
    info = await _get(ctx, code)
    access = DocumentAccess(
        agency=info.agency, unit=None, issuer_roles=_issuer_roles(info.template), people=frozenset()
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
    return await _get(ctx, code)


# --- verification (public) ---------------------------------------------------------------------------


def mask_id(value: str) -> str:
    return value[:3] + "*" * 6 + value[-3:] if len(value) == 12 and value.isdigit() else value


def public_summary(info: DocumentInfo) -> list[dict[str, str]]:
    """What anyone holding the code or the file may see: the template's summary fields, ID numbers
    masked (the holder compares them with the paper; a stranger learns little)."""
    if not info.template:
        return []
    try:
        tmpl = template(info.template)
    except NotFound:
        return []
    rows = tmpl.summary_of(info.data)
    for r in rows:
        if r["field"].endswith("id_number"):
            r["value"] = mask_id(r["value"])
        elif _ISO_DATE.fullmatch(r["value"]):
            r["value"] = render.vn_date(r["value"])
    return rows


async def lookup(ctx: DocumentsContext, code: str) -> DocumentInfo:
    """A registered issued document by its code (the QR link); uploads are never public."""
    info = await _get(ctx, code.strip().upper())
    if info.kind != "issued":
        raise NotFound("No document has this code")
    return info


async def verify(ctx: DocumentsContext, data: bytes) -> Verification:
    if len(data) > ctx.max_upload_bytes:
        raise ValidationFailed(
            errors=[
                FieldError(
                    ("file",),
                    "The file is larger than {limit} MB",
                    {"limit": ctx.max_upload_bytes // (1024 * 1024)},
                )
            ]
        )
    if not data.startswith(b"%PDF-"):
        raise ValidationFailed(
            "Only signed PDF documents can be verified",
            errors=[FieldError(("file",), "The file is not a PDF document")],
        )
    vc = await pki.validation_context(ctx.settings, ctx.db)
    verdict = await check(data, vc)
    doc: DocumentInfo | None = None
    async with ctx.db.uow(readonly=True) as uow:
        row = (await uow.session.execute(_joined().where(versions.c.sha256 == verdict.sha256))).first()
        if row is None and verdict.signature and verdict.signature.code:
            row = (
                await uow.session.execute(_joined().where(documents.c.code == verdict.signature.code))
            ).first()
    if row is not None and row.kind == "issued":
        doc = _info(row)
    matches = doc is not None and doc.sha256 == verdict.sha256
    if doc is not None and doc.status != "valid":
        verdict.reason_codes.append("document_revoked")
        verdict.valid = False
    return Verification(
        verdict=verdict, document=doc, matches_registered=matches, summary=public_summary(doc) if doc else []
    )


def pick_value(data: dict[str, Any], path: str) -> Any:
    return pick(data, path)
