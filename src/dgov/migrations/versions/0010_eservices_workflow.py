"""eservices: workflow instances, work items, timers; notify: inbox columns

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dgov.kernel.db import JSONType, UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eservices_process_definitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("deployed_at", UTCDateTime(), nullable=False),
        sa.Column("deployed_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eservices_process_definitions")),
        sa.UniqueConstraint("name", "version", name="uq_eservices_process_definitions_name_version"),
    )
    op.create_table(
        "eservices_workflow_instances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dossier_id", sa.Uuid(), nullable=False),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("procedure", sa.String(100), nullable=False),
        sa.Column("process_name", sa.String(100), nullable=False),
        sa.Column("process_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eservices_workflow_instances")),
        sa.UniqueConstraint("dossier_id", name=op.f("uq_eservices_workflow_instances_dossier_id")),
    )
    op.create_index(
        "ix_eservices_workflow_instances_pending", "eservices_workflow_instances", ["pending", "status"]
    )
    op.create_table(
        "eservices_work_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("dossier_id", sa.Uuid(), nullable=False),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("procedure", sa.String(100), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("task_name", sa.String(100), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("branch", sa.String(40), nullable=False),
        sa.Column("agency", sa.String(40), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("actions", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("assignee", sa.String(100), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("completed_by", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eservices_work_items")),
    )
    op.create_index(
        "ix_eservices_work_items_queue", "eservices_work_items", ["agency", "role", "unit", "status"]
    )
    op.create_index("ix_eservices_work_items_dossier", "eservices_work_items", ["dossier_id"])
    op.create_index("ix_eservices_work_items_task", "eservices_work_items", ["instance_id", "task_id"])
    op.create_table(
        "eservices_workflow_timers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("task_name", sa.String(100), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eservices_workflow_timers")),
        sa.UniqueConstraint("instance_id", "task_id", name="uq_eservices_workflow_timers_instance_id"),
    )
    op.create_index("ix_eservices_workflow_timers_due", "eservices_workflow_timers", ["fired_at", "due_at"])
    op.create_table(
        "eservices_workflow_effects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.String(100), nullable=False),
        sa.Column("result", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eservices_workflow_effects")),
        sa.UniqueConstraint("instance_id", "step", name="uq_eservices_workflow_effects_instance_id"),
    )
    with op.batch_alter_table("notify_messages") as batch:
        batch.add_column(sa.Column("person", sa.String(12), nullable=True))
        batch.add_column(sa.Column("read_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch.create_index("ix_notify_messages_person", ["person", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("notify_messages") as batch:
        batch.drop_index("ix_notify_messages_person")
        batch.drop_column("error")
        batch.drop_column("read_at")
        batch.drop_column("person")
    op.drop_table("eservices_workflow_effects")
    op.drop_index("ix_eservices_workflow_timers_due", table_name="eservices_workflow_timers")
    op.drop_table("eservices_workflow_timers")
    op.drop_index("ix_eservices_work_items_task", table_name="eservices_work_items")
    op.drop_index("ix_eservices_work_items_dossier", table_name="eservices_work_items")
    op.drop_index("ix_eservices_work_items_queue", table_name="eservices_work_items")
    op.drop_table("eservices_work_items")
    op.drop_index("ix_eservices_workflow_instances_pending", table_name="eservices_workflow_instances")
    op.drop_table("eservices_workflow_instances")
    op.drop_table("eservices_process_definitions")
