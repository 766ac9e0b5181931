"""The documents domain's records: the context, what a document looks like to callers, and the queries
and inserts every use case shares (never committing: the use cases own their units of work)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from dgov import pki
from dgov.documents.models import blobs, documents, versions, wallet
from dgov.documents.rules import DocumentAccess, Holder
from dgov.documents.storage import BlobStore, LocalBlobStore, sha256_of
from dgov.documents.templates_catalog import template
from dgov.identity import Principal
from dgov.kernel import clock
from dgov.kernel.config import Settings
from dgov.kernel.errors import NotFound
from dgov.kernel.ids import new_id
from dgov.kernel.ratelimit import RateLimiter
from dgov.kernel.uow import Database
from dgov.kernel.workers import ProcessPool

DEFAULT_MAX_UPLOAD = 10 * 1024 * 1024
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed from paper


@dataclass
class DocumentsContext:
    settings: Settings
    db: Database
    store: BlobStore
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    # agency → (monotonic time loaded, pki.SigningMaterial); see issuing.MATERIAL_TTL
    materials: dict[str, tuple[float, Any]] = field(default_factory=dict, repr=False)
    # Where verification runs off the event loop (the web runtime's); None: in the caller (the CLI).
    pool: ProcessPool | None = field(default=None, repr=False)
    # Anonymous verification requests per client address (see kernel/ratelimit.py).
    verify_limiter: RateLimiter = field(
        default_factory=lambda: RateLimiter(limit=20, window_seconds=60), repr=False
    )


def context(settings: Settings, db: Database, *, pool: ProcessPool | None = None) -> DocumentsContext:
    limit = settings.documents_max_upload_bytes
    return DocumentsContext(
        settings=settings,
        db=db,
        store=LocalBlobStore(settings.files_dir / "blobs"),
        max_upload_bytes=limit,
        pool=pool,
        verify_limiter=RateLimiter(limit=settings.documents_verify_per_minute, window_seconds=60),
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


def joined() -> Any:
    return select(*_COLUMNS).join(
        versions, (versions.c.document_id == documents.c.id) & (versions.c.version == documents.c.version)
    )


def info_of(row: Any) -> DocumentInfo:
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


async def holders_of(session: Any, document_id: uuid.UUID) -> set[str]:
    rows = await session.execute(select(wallet.c.holder_id).where(wallet.c.document_id == document_id))
    return {r.holder_id for r in rows}


def issuer_roles_of(template_name: str | None) -> tuple[str, ...]:
    if not template_name:
        return ()
    try:
        return template(template_name).issuer_roles
    except NotFound:
        return ()


def access_of(
    row: Any, people: set[str], holder: Holder | None, dossier_agency: str | None
) -> DocumentAccess:
    everyone = set(people) | {p for p in (row.owner_id, row.subject_id) if p}
    return DocumentAccess(
        agency=row.agency,
        unit=row.unit,
        issuer_roles=issuer_roles_of(row.template),
        people=frozenset(everyone),
        holder=holder,
        dossier_agency=dossier_agency,
    )


# --- storing -----------------------------------------------------------------------------------------


async def insert_document(
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


async def get_document(ctx: DocumentsContext, code: str) -> DocumentInfo:
    async with ctx.db.uow(readonly=True) as uow:
        row = (await uow.session.execute(joined().where(documents.c.code == code))).first()
    if row is None:
        raise NotFound("No document has this code")
    return info_of(row)
