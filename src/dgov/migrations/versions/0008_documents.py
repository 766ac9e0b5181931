"""documents: content-addressed blobs, documents, wallet entries

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dgov.kernel.db import JSONType, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "documents_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_documents_blobs")),
    )
    op.create_table(
        "documents_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("template", sa.String(length=50), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("subject_id", sa.String(length=12), nullable=True),
        sa.Column("owner_id", sa.String(length=12), nullable=True),
        sa.Column("agency", sa.String(length=50), nullable=True),
        sa.Column("unit", sa.String(length=10), nullable=True),
        sa.Column("dossier_code", sa.String(length=50), nullable=True),
        sa.Column("legal_basis", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("data", JSONType, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents_documents")),
        sa.UniqueConstraint("code", name=op.f("uq_documents_documents_code")),
    )
    with op.batch_alter_table("documents_documents", schema=None) as batch_op:
        batch_op.create_index("ix_documents_documents_subject", ["subject_id"], unique=False)

    op.create_table(
        "documents_versions",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents_documents.id"],
            name=op.f("fk_documents_versions_document_id_documents_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sha256"], ["documents_blobs.sha256"], name=op.f("fk_documents_versions_sha256_documents_blobs")
        ),
        sa.PrimaryKeyConstraint("document_id", "version", name=op.f("pk_documents_versions")),
    )
    with op.batch_alter_table("documents_versions", schema=None) as batch_op:
        batch_op.create_index("ix_documents_versions_sha256", ["sha256"], unique=False)

    op.create_table(
        "documents_wallet",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("holder_id", sa.String(length=12), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents_documents.id"],
            name=op.f("fk_documents_wallet_document_id_documents_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents_wallet")),
        sa.UniqueConstraint("holder_id", "document_id", name="uq_documents_wallet_holder_document"),
    )
    with op.batch_alter_table("documents_wallet", schema=None) as batch_op:
        batch_op.create_index("ix_documents_wallet_holder", ["holder_id", "added_at"], unique=False)

    op.create_table(
        "documents_attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dossier_code", sa.String(length=50), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=100), nullable=False),
        sa.Column("attached_by", sa.String(length=200), nullable=False),
        sa.Column("attached_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents_documents.id"],
            name=op.f("fk_documents_attachments_document_id_documents_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents_attachments")),
        sa.UniqueConstraint(
            "dossier_code", "document_id", "purpose", name="uq_documents_attachments_dossier"
        ),
    )

    op.create_table(
        "documents_reads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.String(length=12), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("accessor", sa.String(length=200), nullable=False),
        sa.Column("accessor_name", sa.String(length=300), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("dossier_code", sa.String(length=50), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents_documents.id"],
            name=op.f("fk_documents_reads_document_id_documents_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents_reads")),
    )
    with op.batch_alter_table("documents_reads", schema=None) as batch_op:
        batch_op.create_index("ix_documents_reads_subject", ["subject_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("documents_reads", schema=None) as batch_op:
        batch_op.drop_index("ix_documents_reads_subject")
    op.drop_table("documents_reads")
    op.drop_table("documents_attachments")
    with op.batch_alter_table("documents_wallet", schema=None) as batch_op:
        batch_op.drop_index("ix_documents_wallet_holder")
    op.drop_table("documents_wallet")
    with op.batch_alter_table("documents_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_documents_versions_sha256")
    op.drop_table("documents_versions")
    with op.batch_alter_table("documents_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_documents_documents_subject")
    op.drop_table("documents_documents")
    op.drop_table("documents_blobs")
