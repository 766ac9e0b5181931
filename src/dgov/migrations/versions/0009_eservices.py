"""eservices: procedures, dossiers, messages, ratings

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dgov.kernel.db import JSONType, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eservices_code_counters",
        sa.Column("agency_code", sa.String(length=30), nullable=False),
        sa.Column("day", sa.String(length=6), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("agency_code", "day", name=op.f("pk_eservices_code_counters")),
    )
    op.create_table(
        "eservices_dossier_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dossier_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=30), nullable=True),
        sa.Column("to_status", sa.String(length=30), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eservices_dossier_events")),
    )
    with op.batch_alter_table("eservices_dossier_events", schema=None) as batch_op:
        batch_op.create_index("ix_eservices_dossier_events_dossier", ["dossier_id", "at"], unique=False)

    op.create_table(
        "eservices_dossiers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("procedure_id", sa.String(length=80), nullable=False),
        sa.Column("procedure_digest", sa.String(length=64), nullable=False),
        sa.Column("agency_code", sa.String(length=30), nullable=False),
        sa.Column("agency_member", sa.String(length=20), nullable=False),
        sa.Column("applicant_account", sa.Uuid(), nullable=False),
        sa.Column("applicant_id_number", sa.String(length=12), nullable=False),
        sa.Column("applicant_name", sa.String(length=200), nullable=False),
        sa.Column("on_behalf_of", sa.Uuid(), nullable=True),
        sa.Column("commune_code", sa.String(length=5), nullable=True),
        sa.Column("province_code", sa.String(length=3), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("data", JSONType, nullable=False),
        sa.Column("sources", JSONType, nullable=False),
        sa.Column("attachments", JSONType, nullable=False),
        sa.Column("results", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eservices_dossiers")),
        sa.UniqueConstraint("applicant_account", "idempotency_key", name="uq_eservices_dossiers_idempotency"),
        sa.UniqueConstraint("code", name=op.f("uq_eservices_dossiers_code")),
    )
    with op.batch_alter_table("eservices_dossiers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_eservices_dossiers_applicant", ["applicant_account", "created_at"], unique=False
        )
        batch_op.create_index("ix_eservices_dossiers_status_due", ["status", "due_date"], unique=False)

    op.create_table(
        "eservices_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dossier_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("sender_kind", sa.String(length=20), nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("sender_name", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eservices_messages")),
    )
    with op.batch_alter_table("eservices_messages", schema=None) as batch_op:
        batch_op.create_index("ix_eservices_messages_dossier", ["dossier_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("eservices_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_eservices_messages_dossier")
    op.drop_table("eservices_messages")
    with op.batch_alter_table("eservices_dossiers", schema=None) as batch_op:
        batch_op.drop_index("ix_eservices_dossiers_status_due")
        batch_op.drop_index("ix_eservices_dossiers_applicant")
    op.drop_table("eservices_dossiers")
    with op.batch_alter_table("eservices_dossier_events", schema=None) as batch_op:
        batch_op.drop_index("ix_eservices_dossier_events_dossier")
    op.drop_table("eservices_dossier_events")
    op.drop_table("eservices_code_counters")
