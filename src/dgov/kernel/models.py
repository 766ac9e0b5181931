"""Kernel tables: the audit chain, its signed checkpoints and the transactional outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dgov.kernel.db import Base, JSONType, UTCDateTime


class AuditHead(Base):
    """One row: the tip of the chain. Locking it serialises appends (SELECT … FOR UPDATE on PostgreSQL;
    SQLite writers are serialised by BEGIN IMMEDIATE)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditRecord(Base):
    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    on_behalf_of: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_records_object", "object_type", "object_id"),)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    node: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str] = mapped_column(String(100))
    signature: Mapped[str] = mapped_column(Text)


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # pending → delivered | dead. A row is claimed by setting locked_until (a lease), so a worker that
    # dies mid-delivery only delays the message until the lease runs out.
    status: Mapped[str] = mapped_column(String(20), default="pending")
    available_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_outbox_messages_due", "status", "available_at"),)


class OutboxDelivery(Base):
    """A consumer's receipt, written in the consumer's own transaction: what makes consumers idempotent."""

    __tablename__ = "outbox_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[uuid.UUID] = mapped_column()
    consumer: Mapped[str] = mapped_column(String(100))
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("message_id", "consumer", name="uq_outbox_deliveries_message_consumer"),
    )


# Core tables for hot paths (bulk inserts, claims): typed as Table, which `Model.__table__` is not.
audit_head = cast(Table, AuditHead.__table__)
audit_records = cast(Table, AuditRecord.__table__)
audit_checkpoints = cast(Table, AuditCheckpoint.__table__)
outbox_messages = cast(Table, OutboxMessage.__table__)
outbox_deliveries = cast(Table, OutboxDelivery.__table__)
