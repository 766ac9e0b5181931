"""exchange: members, subsystems, services, access rights, message log

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dgov.kernel.db import JSONType, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("client", sa.String(length=300), nullable=False),
        sa.Column("service", sa.String(length=300), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("details", JSONType, nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_exchange_log")),
    )
    with op.batch_alter_table("exchange_log", schema=None) as batch_op:
        batch_op.create_index("ix_exchange_log_ts", ["ts"], unique=False)
    op.create_table(
        "exchange_log_checkpoints",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("node", sa.String(length=100), nullable=False),
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_exchange_log_checkpoints")),
    )
    op.create_table(
        "exchange_log_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_log_head")),
    )
    op.create_table(
        "exchange_members",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance", sa.String(length=20), nullable=False),
        sa.Column("member_class", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_members")),
        sa.UniqueConstraint("instance", "member_class", "code", name="uq_exchange_members_address"),
    )
    op.create_table(
        "exchange_nonces",
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("nonce", sa.String(length=200), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name=op.f("pk_exchange_nonces")),
    )
    with op.batch_alter_table("exchange_nonces", schema=None) as batch_op:
        batch_op.create_index("ix_exchange_nonces_expires", ["expires_at"], unique=False)
    op.create_table(
        "exchange_subsystems",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("server_url", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["exchange_members.id"],
            name=op.f("fk_exchange_subsystems_member_id_exchange_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_subsystems")),
        sa.UniqueConstraint("member_id", "code", name="uq_exchange_subsystems_member_code"),
    )
    op.create_table(
        "exchange_keys",
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("subsystem_id", sa.Uuid(), nullable=False),
        sa.Column("alg", sa.String(length=30), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("private_sealed", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subsystem_id"],
            ["exchange_subsystems.id"],
            name=op.f("fk_exchange_keys_subsystem_id_exchange_subsystems"),
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_exchange_keys")),
    )
    with op.batch_alter_table("exchange_keys", schema=None) as batch_op:
        batch_op.create_index("ix_exchange_keys_subsystem", ["subsystem_id"], unique=False)
    op.create_table(
        "exchange_services",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subsystem_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("operations", JSONType, nullable=False),
        sa.Column("openapi", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subsystem_id"],
            ["exchange_subsystems.id"],
            name=op.f("fk_exchange_services_subsystem_id_exchange_subsystems"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_services")),
        sa.UniqueConstraint("subsystem_id", "code", name="uq_exchange_services_subsystem_code"),
    )
    op.create_table(
        "exchange_rights",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("operation", sa.String(length=100), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["exchange_subsystems.id"],
            name=op.f("fk_exchange_rights_client_id_exchange_subsystems"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["exchange_services.id"],
            name=op.f("fk_exchange_rights_service_id_exchange_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rights")),
        sa.UniqueConstraint(
            "client_id", "service_id", "operation", name="uq_exchange_rights_client_service_op"
        ),
    )
    # The message log starts from a genesis hash of zeros, like the audit chain.
    op.bulk_insert(
        sa.table(
            "exchange_log_head",
            sa.column("id", sa.Integer),
            sa.column("seq", sa.BigInteger),
            sa.column("hash", sa.String),
        ),
        [{"id": 1, "seq": 0, "hash": "0" * 64}],
    )


def downgrade() -> None:
    op.drop_table("exchange_rights")
    op.drop_table("exchange_services")
    with op.batch_alter_table("exchange_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_keys_subsystem")
    op.drop_table("exchange_keys")
    op.drop_table("exchange_subsystems")
    with op.batch_alter_table("exchange_nonces", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_nonces_expires")
    op.drop_table("exchange_nonces")
    op.drop_table("exchange_members")
    op.drop_table("exchange_log_head")
    op.drop_table("exchange_log_checkpoints")
    with op.batch_alter_table("exchange_log", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_log_ts")
    op.drop_table("exchange_log")
