"""Exchange tables: the directory (members, subsystems, keys, services, access rights), the replay
guard (nonces) and the message log with its head and signed checkpoints.

The gateway reads and writes these with SQLAlchemy Core only (`*_t` tables below).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dgov.kernel.db import Base, JSONType, UTCDateTime


class Member(Base):
    """An organisation taking part in the exchange (X-Road: member), e.g. VN/GOV/BCA."""

    __tablename__ = "exchange_members"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    instance: Mapped[str] = mapped_column(String(20))
    member_class: Mapped[str] = mapped_column(String(10))
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(300))
    # pending (registered, waiting for the operator) | active | revoked
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # "central:NODE" when a directory sync brought it: the next sync may revoke or remove it; NULL: local.
    origin: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("instance", "member_class", "code", name="uq_exchange_members_address"),
    )


class Subsystem(Base):
    """An application of a member that calls or serves (X-Road: subsystem)."""

    __tablename__ = "exchange_subsystems"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_members.id"))
    code: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))
    # The node that serves this subsystem's services (its gateway's base URL); empty: this node.
    server_url: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # "central:NODE" when a directory sync brought it: the next sync may revoke or remove it; NULL: local.
    origin: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("member_id", "code", name="uq_exchange_subsystems_member_code"),)


class SubsystemKey(Base):
    """A signing key of a subsystem; `key_id` is what requests carry in `keyid`."""

    __tablename__ = "exchange_keys"

    key_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    subsystem_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_subsystems.id"))
    alg: Mapped[str] = mapped_column(String(30))  # ed25519 | ecdsa-p256-sha256
    public_pem: Mapped[str] = mapped_column(Text)
    # Set when the node itself holds the private key (its own subsystems), sealed with the SecretBox.
    private_sealed: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # active | revoked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_exchange_keys_subsystem", "subsystem_id"),)


class Service(Base):
    """A service published by a subsystem, with its OpenAPI document and operations."""

    __tablename__ = "exchange_services"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    subsystem_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_subsystems.id"))
    code: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    # registry: served by this node's registries (target = registry name)
    kind: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(200))
    # [{"id": "getRecord", "method": "GET", "path": "/records/{key}"}, …]
    operations: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    openapi: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # "central:NODE" when a directory sync brought it: the next sync may revoke or remove it; NULL: local.
    origin: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("subsystem_id", "code", name="uq_exchange_services_subsystem_code"),)


class AccessRight(Base):
    """Client subsystem → service (all operations when `operation` is empty)."""

    __tablename__ = "exchange_rights"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_subsystems.id"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_services.id"))
    operation: Mapped[str] = mapped_column(String(100), default="")
    granted_by: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("client_id", "service_id", "operation", name="uq_exchange_rights_client_service_op"),
    )


class Nonce(Base):
    """Nonces seen on signed requests until they expire: the primary key makes a replay fail in every
    worker process alike."""

    __tablename__ = "exchange_nonces"

    key_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_exchange_nonces_expires", "expires_at"),)


class LogHead(Base):
    """One row: the tip of the message log chain (locked to serialise appends, like the audit head)."""

    __tablename__ = "exchange_log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class LogRecord(Base):
    __tablename__ = "exchange_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    message_id: Mapped[str] = mapped_column(String(40))
    client: Mapped[str] = mapped_column(String(300))
    service: Mapped[str] = mapped_column(String(300))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(1000))
    status: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(40))
    duration_ms: Mapped[int] = mapped_column(Integer)
    # Signatures, signature inputs, digests, purpose, masked subject, dossier, error code.
    details: Mapped[dict[str, Any]] = mapped_column(JSONType)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_exchange_log_ts", "ts"),)


class LogCheckpoint(Base):
    __tablename__ = "exchange_log_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    node: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str] = mapped_column(String(100))
    signature: Mapped[str] = mapped_column(Text)


members_t = cast(Table, Member.__table__)
subsystems_t = cast(Table, Subsystem.__table__)
keys_t = cast(Table, SubsystemKey.__table__)
services_t = cast(Table, Service.__table__)
rights_t = cast(Table, AccessRight.__table__)
nonces_t = cast(Table, Nonce.__table__)
log_head_t = cast(Table, LogHead.__table__)
log_t = cast(Table, LogRecord.__table__)
log_checkpoints_t = cast(Table, LogCheckpoint.__table__)

# The pub/sub tables live in their own module of this package (imported last: it refers to these).
from dgov.exchange import pubsub_models  # noqa: E402, F401
