"""Tables of the workflow engine: deployed process versions, running instances, work items, timers and
the record of side effects already done (so a retried service task never does its work twice)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dgov.kernel.db import Base, JSONType, UTCDateTime


class ProcessDefinition(Base):
    """A BPMN file as deployed by an operator: never edited, a new file content is a new version."""

    __tablename__ = "eservices_process_definitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deployed_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_eservices_process_definitions_name_version"),
    )


class WorkflowInstance(Base):
    __tablename__ = "eservices_workflow_instances"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    dossier_code: Mapped[str] = mapped_column(String(40))
    procedure: Mapped[str] = mapped_column(String(100))
    process_name: Mapped[str] = mapped_column(String(100))
    process_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(Text)  # SpiffWorkflow's JSON serialization
    status: Mapped[str] = mapped_column(String(20))  # running | completed | failed
    # Service tasks that must run outside the engine's transaction are waiting for a worker.
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
    lock_version: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_eservices_workflow_instances_pending", "pending", "status"),)


class WorkItem(Base):
    """A user task waiting for a person, in the queue of an agency, role and administrative unit."""

    __tablename__ = "eservices_work_items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column()
    dossier_id: Mapped[uuid.UUID] = mapped_column()
    dossier_code: Mapped[str] = mapped_column(String(40))
    procedure: Mapped[str] = mapped_column(String(100))
    task_id: Mapped[str] = mapped_column(String(36))  # the engine's task
    task_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    branch: Mapped[str] = mapped_column(String(40), default="")
    agency: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(40))
    unit: Mapped[str] = mapped_column(String(40))
    actions: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # open | claimed | done | cancelled
    assignee: Mapped[str | None] = mapped_column(String(100))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        Index("ix_eservices_work_items_queue", "agency", "role", "unit", "status"),
        Index("ix_eservices_work_items_dossier", "dossier_id"),
        Index("ix_eservices_work_items_task", "instance_id", "task_id"),
    )


class WorkflowTimer(Base):
    """A boundary timer the engine waits on; `dgov eservices tick` fires it once the clock passes due_at."""

    __tablename__ = "eservices_workflow_timers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column()
    task_id: Mapped[str] = mapped_column(String(36))
    task_name: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("instance_id", "task_id", name="uq_eservices_workflow_timers_instance_id"),
        Index("ix_eservices_workflow_timers_due", "fired_at", "due_at"),
    )


class WorkflowEffect(Base):
    """What a service task did outside the engine's transaction (e.g. the child's new ID number)."""

    __tablename__ = "eservices_workflow_effects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[uuid.UUID] = mapped_column()
    step: Mapped[str] = mapped_column(String(100))
    result: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("instance_id", "step", name="uq_eservices_workflow_effects_instance_id"),
    )
