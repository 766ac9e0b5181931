"""The unit of work: the only thing in dgov that commits.

Audit entries and outbox events queued during a unit of work are written in the same transaction as
the change they describe: no change without its trace, no trace without its change.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from dgov.kernel import audit, clock
from dgov.kernel.audit import AuditEntry, CheckpointPolicy
from dgov.kernel.ids import new_id
from dgov.kernel.models import OutboxMessage

_MESSAGES = cast(Table, OutboxMessage.__table__)


@dataclass
class Database:
    """The process's database handle: engine, session factories and what a commit must also do."""

    sessionmaker: async_sessionmaker[AsyncSession]
    readonly_sessionmaker: async_sessionmaker[AsyncSession]
    checkpoint: CheckpointPolicy
    engine: AsyncEngine | None = None
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def from_engine(cls, engine: AsyncEngine, checkpoint: CheckpointPolicy) -> Database:
        ro = engine.execution_options(sqlite_begin="DEFERRED")
        return cls(
            sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
            readonly_sessionmaker=async_sessionmaker(ro, expire_on_commit=False),
            checkpoint=checkpoint,
            engine=engine,
        )

    @classmethod
    def from_connection(cls, conn: AsyncConnection, checkpoint: CheckpointPolicy) -> Database:
        """Bind to an open transaction (tests): each unit of work becomes a SAVEPOINT inside it."""
        sm = async_sessionmaker(bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint")
        return cls(sessionmaker=sm, readonly_sessionmaker=sm, checkpoint=checkpoint)

    def uow(self, *, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(self, readonly=readonly)


class UnitOfWork:
    def __init__(self, db: Database, *, readonly: bool = False) -> None:
        self._db = db
        self.readonly = readonly
        self._audit: list[AuditEntry] = []
        self._events: list[dict[str, Any]] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        factory = self._db.readonly_sessionmaker if self.readonly else self._db.sessionmaker
        self._session = factory()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Closing discards whatever was not committed. No explicit rollback: it would expire every loaded
        # object, so nothing read inside the block could be used after it (defeating expire_on_commit=False).
        self._audit.clear()
        self._events.clear()
        try:
            await self.session.close()
        finally:
            self._session = None

    def audit(self, entry: AuditEntry) -> None:
        if self.readonly:
            raise RuntimeError("a read-only unit of work cannot write audit records")
        self._audit.append(entry)

    def publish(self, topic: str, payload: dict[str, Any], *, key: str | None = None) -> uuid.UUID:
        """Queue an event, written at commit; returns the message id (for tracing, and for tests)."""
        if self.readonly:
            raise RuntimeError("a read-only unit of work cannot publish events")
        now = clock.now()
        msg_id = new_id()
        self._events.append(
            {
                # A copy: the caller changing its dict before commit must not change what is published.
                "id": msg_id,
                "topic": topic,
                "key": key,
                "payload": dict(payload),
                "created_at": now,
                "status": "pending",
                "available_at": now,
                "attempts": 0,
            }
        )
        return msg_id

    async def flush(self) -> None:
        await self.session.flush()

    async def commit(self) -> None:
        session = self.session
        if self._audit:
            await audit.append(session, self._audit, ts=clock.now(), policy=self._db.checkpoint)
        if self._events:
            await session.execute(insert(_MESSAGES), self._events)
        had_events = bool(self._events)
        await session.commit()
        self._audit.clear()
        self._events.clear()
        if had_events:
            for hook in self._db.after_commit:
                hook()

    async def rollback(self) -> None:
        self._audit.clear()
        self._events.clear()
        if self._session is not None:
            await self._session.rollback()
