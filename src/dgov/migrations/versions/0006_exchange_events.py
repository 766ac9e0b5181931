"""exchange: event types, subscriptions, deliveries

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dgov.kernel.db import JSONType, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit column.
OFFSET = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "exchange_event_types",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("schema", JSONType, nullable=False),
        sa.Column("description", JSONType, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_exchange_event_types")),
    )
    op.create_table(
        "exchange_events",
        sa.Column("stream_offset", OFFSET, autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("stream_offset", name=op.f("pk_exchange_events")),
        sa.UniqueConstraint("id", name=op.f("uq_exchange_events_id")),
    )
    op.create_index("ix_exchange_events_type", "exchange_events", ["type", "stream_offset"], unique=False)
    op.create_index("ix_exchange_events_subject", "exchange_events", ["subject", "type"], unique=False)
    op.create_table(
        "exchange_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member", sa.String(length=120), nullable=False),
        sa.Column("subsystem", sa.String(length=50), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("filters", JSONType, nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_subscriptions")),
    )
    op.create_index(
        "ix_exchange_subscriptions_type", "exchange_subscriptions", ["event_type", "status"], unique=False
    )
    op.create_table(
        "exchange_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_offset", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("round_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["exchange_events.id"], name=op.f("fk_exchange_deliveries_event_id_exchange_events")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["exchange_subscriptions.id"],
            name=op.f("fk_exchange_deliveries_subscription_id_exchange_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_deliveries")),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_exchange_deliveries_subscription_event"),
    )
    op.create_index(
        "ix_exchange_deliveries_status", "exchange_deliveries", ["status", "subscription_id"], unique=False
    )
    op.create_index(
        "ix_exchange_deliveries_offset",
        "exchange_deliveries",
        ["subscription_id", "event_offset"],
        unique=False,
    )
    op.create_table(
        "exchange_delivery_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["exchange_deliveries.id"],
            name=op.f("fk_exchange_delivery_attempts_delivery_id_exchange_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_delivery_attempts")),
    )
    op.create_index(
        "ix_exchange_delivery_attempts_delivery",
        "exchange_delivery_attempts",
        ["delivery_id", "attempt"],
        unique=False,
    )
    op.create_table(
        "exchange_trusted_nodes",
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_exchange_trusted_nodes")),
    )
    op.create_table(
        "exchange_inbox",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("sender_key_id", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("stream_offset", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("envelope", JSONType, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_exchange_inbox")),
    )
    op.create_index("ix_exchange_inbox_received", "exchange_inbox", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_exchange_inbox_received", table_name="exchange_inbox")
    op.drop_table("exchange_inbox")
    op.drop_table("exchange_trusted_nodes")
    op.drop_index("ix_exchange_delivery_attempts_delivery", table_name="exchange_delivery_attempts")
    op.drop_table("exchange_delivery_attempts")
    op.drop_index("ix_exchange_deliveries_offset", table_name="exchange_deliveries")
    op.drop_index("ix_exchange_deliveries_status", table_name="exchange_deliveries")
    op.drop_table("exchange_deliveries")
    op.drop_index("ix_exchange_subscriptions_type", table_name="exchange_subscriptions")
    op.drop_table("exchange_subscriptions")
    op.drop_index("ix_exchange_events_subject", table_name="exchange_events")
    op.drop_index("ix_exchange_events_type", table_name="exchange_events")
    op.drop_table("exchange_events")
    op.drop_table("exchange_event_types")
