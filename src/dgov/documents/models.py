"""Documents tables: content-addressed blobs, documents with their versions, wallet entries, attachments
to dossiers, and the log of officials' reads of a person's documents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dgov.kernel.db import Base, JSONType, UTCDateTime


class Blob(Base):
    """Bytes stored once under their SHA-256, whatever number of documents point at them."""

    __tablename__ = "documents_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Document(Base):
    __tablename__ = "documents_documents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Public, unguessable: printed on issued documents and used in the QR verification link.
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # issued | upload
    template: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    # The person the document is about (a child's birth certificate: the child), if any.
    subject_id: Mapped[str | None] = mapped_column(String(12))
    # Who uploaded it (a person's ID number), for uploads.
    owner_id: Mapped[str | None] = mapped_column(String(12))
    agency: Mapped[str | None] = mapped_column(String(50))
    unit: Mapped[str | None] = mapped_column(String(10))
    dossier_code: Mapped[str | None] = mapped_column(String(50))
    legal_basis: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))  # valid | revoked
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_documents_documents_subject", "subject_id"),
        # One document per dossier and template: a retried or doubled service task cannot issue a second
        # signed certificate for the same dossier (NULL dossier codes, e.g. uploads, never collide).
        UniqueConstraint("dossier_code", "template", name="uq_documents_documents_dossier_template"),
    )


class DocumentVersion(Base):
    __tablename__ = "documents_versions"

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents_documents.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("documents_blobs.sha256"))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index("ix_documents_versions_sha256", "sha256"),)


class WalletEntry(Base):
    """A document in a person's wallet ("Kho giấy tờ"): issued to them, or uploaded by them."""

    __tablename__ = "documents_wallet"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    holder_id: Mapped[str] = mapped_column(String(12))
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents_documents.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(20))  # issued | upload
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("holder_id", "document_id", name="uq_documents_wallet_holder_document"),
        Index("ix_documents_wallet_holder", "holder_id", "added_at"),
    )


class Attachment(Base):
    """A wallet document attached to a dossier (at one version), without uploading it again."""

    __tablename__ = "documents_attachments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(50))
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents_documents.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(100))
    attached_by: Mapped[str] = mapped_column(String(200))
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("dossier_code", "document_id", "purpose", name="uq_documents_attachments_dossier"),
    )


class DocumentRead(Base):
    """Every read of a person's document by someone other than its holders (officials, agencies)."""

    __tablename__ = "documents_reads"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(12))
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents_documents.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    accessor: Mapped[str] = mapped_column(String(200))
    accessor_name: Mapped[str] = mapped_column(String(300))
    purpose: Mapped[str] = mapped_column(Text)
    dossier_code: Mapped[str | None] = mapped_column(String(50))

    __table_args__ = (Index("ix_documents_reads_subject", "subject_id", "at"),)


blobs = cast(Table, Blob.__table__)
documents = cast(Table, Document.__table__)
versions = cast(Table, DocumentVersion.__table__)
wallet = cast(Table, WalletEntry.__table__)
attachments = cast(Table, Attachment.__table__)
reads = cast(Table, DocumentRead.__table__)
