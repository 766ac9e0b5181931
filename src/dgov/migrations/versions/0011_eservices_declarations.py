"""eservices: declarations awaiting the named person's confirmation; documents: one per (dossier, template)

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dgov.kernel.db import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eservices_declarations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dossier_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("person_id_number", sa.String(12), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eservices_declarations")),
        sa.UniqueConstraint(
            "dossier_id", "kind", "person_id_number", name="uq_eservices_declarations_person"
        ),
    )
    op.create_index(
        "ix_eservices_declarations_person", "eservices_declarations", ["person_id_number", "status"]
    )
    with op.batch_alter_table("documents_documents") as batch:
        batch.create_unique_constraint(
            "uq_documents_documents_dossier_template", ["dossier_code", "template"]
        )


def downgrade() -> None:
    with op.batch_alter_table("documents_documents") as batch:
        batch.drop_constraint("uq_documents_documents_dossier_template", type_="unique")
    op.drop_index("ix_eservices_declarations_person", table_name="eservices_declarations")
    op.drop_table("eservices_declarations")
