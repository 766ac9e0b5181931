"""registries: schemas, records, versions, access log, administrative units

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dgov.kernel.db import JSONType, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_access_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.String(length=12), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("accessor_kind", sa.String(length=20), nullable=False),
        sa.Column("accessor", sa.String(length=200), nullable=False),
        sa.Column("accessor_name", sa.String(length=300), nullable=False),
        sa.Column("registry", sa.String(length=50), nullable=False),
        sa.Column("record_key", sa.String(length=100), nullable=False),
        sa.Column("fields", JSONType, nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.String(length=300), nullable=True),
        sa.Column("dossier_code", sa.String(length=50), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_access_log")),
    )
    with op.batch_alter_table("registry_access_log", schema=None) as batch_op:
        batch_op.create_index("ix_registry_access_log_subject", ["subject_id", "at"], unique=False)

    op.create_table(
        "registry_admin_units",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_code", sa.String(length=10), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_admin_units")),
    )
    with op.batch_alter_table("registry_admin_units", schema=None) as batch_op:
        batch_op.create_index("ix_registry_admin_units_code", ["code", "level", "valid_from"], unique=False)

    op.create_table(
        "registry_record_versions",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("data", JSONType, nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_to", UTCDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("legal_basis", sa.String(length=300), nullable=True),
        sa.Column("dossier_code", sa.String(length=50), nullable=True),
        sa.PrimaryKeyConstraint("record_id", "version", name=op.f("pk_registry_record_versions")),
    )
    op.create_table(
        "registry_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registry", sa.String(length=50), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("data", JSONType, nullable=False),
        sa.Column("subject_id", sa.String(length=12), nullable=True),
        sa.Column("name_norm", sa.String(length=200), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("province_code", sa.String(length=3), nullable=True),
        sa.Column("commune_code", sa.String(length=5), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("legal_basis", sa.String(length=300), nullable=True),
        sa.Column("dossier_code", sa.String(length=50), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_records")),
        sa.UniqueConstraint("registry", "key", name="uq_registry_records_registry_key"),
    )
    with op.batch_alter_table("registry_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_registry_records_name", ["registry", "name_norm", "birth_year", "key"], unique=False
        )
        batch_op.create_index(
            "ix_registry_records_place_name", ["registry", "province_code", "name_norm"], unique=False
        )
        batch_op.create_index("ix_registry_records_subject", ["subject_id"], unique=False)

    op.create_table(
        "registry_schemas",
        sa.Column("registry", sa.String(length=50), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("schema", JSONType, nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("registry", "version", name=op.f("pk_registry_schemas")),
    )


def downgrade() -> None:
    op.drop_table("registry_schemas")
    with op.batch_alter_table("registry_records", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_records_subject")
        batch_op.drop_index("ix_registry_records_place_name")
        batch_op.drop_index("ix_registry_records_name")

    op.drop_table("registry_records")
    op.drop_table("registry_record_versions")
    with op.batch_alter_table("registry_admin_units", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_admin_units_code")

    op.drop_table("registry_admin_units")
    with op.batch_alter_table("registry_access_log", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_access_log_subject")

    op.drop_table("registry_access_log")
