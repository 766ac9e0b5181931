"""Pub/sub tables: event types, the node's append-only event stream, subscriptions, webhook deliveries
and the log of every delivery attempt.

Members and subsystems are named by their address strings ("GOV/BTP", "HOTICH") rather than by foreign
keys into the directory, so that an agency node can subscribe to another node's events without holding
that node's directory rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dgov.kernel.db import Base, JSONType, UTCDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Offset = BigInteger().with_variant(Integer(), "sqlite")


class EventType(Base):
    """A kind of event, as data: its owning member, the JSON Schema of its payload, a description."""

    __tablename__ = "exchange_event_types"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(120))  # member address without instance, e.g. GOV/BTP
    schema: Mapped[dict[str, Any]] = mapped_column(JSONType)
    description: Mapped[dict[str, str]] = mapped_column(JSONType)  # {"vi": …, "en": …}
    status: Mapped[str] = mapped_column(String(20))  # active | retired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Event(Base):
    """One published event. `stream_offset` is its position in this node's stream: replay starts from one."""

    __tablename__ = "exchange_events"

    stream_offset: Mapped[int] = mapped_column(Offset, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True)
    type: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(200))
    # The data subject's ID number when the event is about a person (masked wherever it is logged).
    subject: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_exchange_events_type", "type", "stream_offset"),
        Index("ix_exchange_events_subject", "subject", "type"),
    )


class EventSubscription(Base):
    """A member subsystem's interest in one event type, narrowed by attribute filters, with its webhook."""

    __tablename__ = "exchange_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    member: Mapped[str] = mapped_column(String(120))  # GOV/BHXH
    subsystem: Mapped[str] = mapped_column(String(50))
    event_type: Mapped[str] = mapped_column(String(100))
    filters: Mapped[dict[str, str]] = mapped_column(JSONType)  # payload attribute → required value
    url: Mapped[str] = mapped_column(String(1000))
    max_attempts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # active | disabled
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_exchange_subscriptions_type", "event_type", "status"),)


class Delivery(Base):
    """One event owed to one subscription. `attempts` counts every try ever made (it numbers the log and
    fences concurrent settlers); `round_attempts` counts those since the last (re)queue and decides when
    the delivery becomes a dead letter."""

    __tablename__ = "exchange_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_subscriptions.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_events.id"))
    event_offset: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer)
    round_attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_exchange_deliveries_subscription_event"),
        Index("ix_exchange_deliveries_status", "status", "subscription_id"),
        Index("ix_exchange_deliveries_offset", "subscription_id", "event_offset"),
    )


class DeliveryAttempt(Base):
    """The delivery log: one row per POST tried, whatever its outcome."""

    __tablename__ = "exchange_delivery_attempts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_deliveries.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20))  # delivered | retry | dead | stale

    __table_args__ = (Index("ix_exchange_delivery_attempts_delivery", "delivery_id", "attempt"),)


class TrustedNode(Base):
    """Another node whose signed event deliveries this node accepts into its inbox (its node key, as
    printed there by `dgov exchange node-key`)."""

    __tablename__ = "exchange_trusted_nodes"

    key_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    public_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InboxEvent(Base):
    """An event another node delivered to this one (federation); the event id makes redeliveries no-ops."""

    __tablename__ = "exchange_inbox"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    sender_key_id: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(100))
    stream_offset: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str | None] = mapped_column(String(64))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONType)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_exchange_inbox_received", "received_at"),)


event_types_t = cast(Table, EventType.__table__)
events_t = cast(Table, Event.__table__)
subscriptions_t = cast(Table, EventSubscription.__table__)
deliveries_t = cast(Table, Delivery.__table__)
attempts_t = cast(Table, DeliveryAttempt.__table__)
trusted_nodes_t = cast(Table, TrustedNode.__table__)
inbox_t = cast(Table, InboxEvent.__table__)
