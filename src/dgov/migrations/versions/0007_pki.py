"""pki: certificate authorities, issued certificates, revocations, timestamps

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dgov.kernel.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pki_certificates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("issuer_id", sa.Uuid(), nullable=True),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("key_file", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revocation_reason", sa.String(length=30), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pki_certificates")),
        sa.UniqueConstraint("serial", name=op.f("uq_pki_certificates_serial")),
    )
    with op.batch_alter_table("pki_certificates", schema=None) as batch_op:
        batch_op.create_index("ix_pki_certificates_kind_name", ["kind", "name", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pki_certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_pki_certificates_kind_name")
    op.drop_table("pki_certificates")
