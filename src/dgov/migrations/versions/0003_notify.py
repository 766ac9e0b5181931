"""notify: messages

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dgov.kernel.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=True),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_messages")),
        sa.UniqueConstraint("event_id", name=op.f("uq_notify_messages_event_id")),
    )
    with op.batch_alter_table("notify_messages", schema=None) as batch_op:
        batch_op.create_index("ix_notify_messages_account", ["account_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notify_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_notify_messages_account")

    op.drop_table("notify_messages")
