"""Delivery of outbox events to consumers: at least once, idempotent by receipt.

Producers write events with `UnitOfWork.publish` in their own transaction. The dispatcher claims due
messages with a lease (so a worker killed mid-delivery only delays a message until the lease ends),
hands each to every consumer subscribed to its topic, and records each consumer's receipt in the
consumer's own transaction. A message whose receipt exists is never handed to that consumer again;
a failing consumer is retried with exponential backoff, then parked as `dead` for an operator.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from dgov.kernel import clock
from dgov.kernel.models import OutboxDelivery, OutboxMessage
from dgov.kernel.uow import Database, UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    id: uuid.UUID
    topic: str
    key: str | None
    payload: dict[str, Any]
    created_at: datetime
    attempts: int


Handler = Callable[[UnitOfWork, Message], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    pattern: str
    consumer: str
    handler: Handler


class Registry:
    """Who listens to what. Domains subscribe at import time through `subscribe`."""

    def __init__(self) -> None:
        self._subs: dict[str, Subscription] = {}

    def subscribe(self, pattern: str, consumer: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.add(Subscription(pattern, consumer, fn))
            return fn

        return register

    def add(self, sub: Subscription) -> None:
        if sub.consumer in self._subs and self._subs[sub.consumer].handler is not sub.handler:
            raise ValueError(f"consumer {sub.consumer!r} is already registered")
        self._subs[sub.consumer] = sub

    def remove(self, consumer: str) -> None:
        self._subs.pop(consumer, None)

    def for_topic(self, topic: str) -> list[Subscription]:
        return [s for s in self._subs.values() if fnmatch.fnmatchcase(topic, s.pattern)]


registry = Registry()
subscribe = registry.subscribe


def backoff(attempts: int, *, base: float = 1.0, cap: float = 3600.0) -> timedelta:
    """Exponential backoff with full jitter (attempt 1 → up to 1 s, 2 → 2 s, 3 → 4 s, …)."""
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter, not security


class Dispatcher:
    def __init__(
        self,
        db: Database,
        reg: Registry | None = None,
        *,
        lease: timedelta = timedelta(seconds=30),
        max_attempts: int = 10,
        batch: int = 100,
        poll_seconds: float = 0.5,
    ) -> None:
        self.db = db
        self.registry = reg or registry
        self.lease = lease
        self.max_attempts = max_attempts
        self.batch = batch
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def _claim(self) -> list[Message]:
        t = OutboxMessage.__table__
        now = clock.now()
        async with self.db.uow() as uow:
            due = (
                select(t.c.id)
                .where(
                    and_(
                        t.c.status == "pending",
                        t.c.available_at <= now,
                        or_(t.c.locked_until.is_(None), t.c.locked_until < now),
                    )
                )
                .order_by(t.c.created_at)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            ids = list((await uow.session.execute(due)).scalars())
            if not ids:
                return []
            rows = (
                await uow.session.execute(
                    update(t)
                    .where(t.c.id.in_(ids))
                    .values(locked_until=now + self.lease, attempts=t.c.attempts + 1)
                    .returning(t.c.id, t.c.topic, t.c.key, t.c.payload, t.c.created_at, t.c.attempts)
                )
            ).all()
            await uow.commit()
        msgs = [Message(r.id, r.topic, r.key, r.payload, r.created_at, r.attempts) for r in rows]
        return sorted(msgs, key=lambda m: m.created_at)

    async def _deliver_to(self, sub: Subscription, msg: Message) -> None:
        async with self.db.uow() as uow:
            done = await uow.session.scalar(
                select(OutboxDelivery.id).where(
                    OutboxDelivery.message_id == msg.id, OutboxDelivery.consumer == sub.consumer
                )
            )
            if done is not None:
                return
            await sub.handler(uow, msg)
            uow.session.add(OutboxDelivery(message_id=msg.id, consumer=sub.consumer, delivered_at=clock.now()))
            try:
                await uow.commit()
            except IntegrityError:
                # Another worker delivered it between our check and our commit: its receipt stands.
                await uow.rollback()

    async def _settle(self, msg: Message, error: str | None) -> None:
        t = OutboxMessage.__table__
        now = clock.now()
        if error is None:
            values: dict[str, Any] = {"status": "delivered", "delivered_at": now, "locked_until": None}
        elif msg.attempts >= self.max_attempts:
            values = {"status": "dead", "last_error": error[:2000], "locked_until": None}
            log.error("outbox message parked as dead", extra={"message_id": str(msg.id), "topic": msg.topic})
        else:
            values = {"available_at": now + backoff(msg.attempts), "last_error": error[:2000], "locked_until": None}
        async with self.db.uow() as uow:
            await uow.session.execute(update(t).where(t.c.id == msg.id).values(**values))
            await uow.commit()

    async def run_once(self) -> int:
        """Deliver every message that is due now; returns how many were settled as delivered."""
        delivered = 0
        while True:
            msgs = await self._claim()
            if not msgs:
                return delivered
            for msg in msgs:
                error: str | None = None
                for sub in self.registry.for_topic(msg.topic):
                    try:
                        await self._deliver_to(sub, msg)
                    except Exception as exc:  # a consumer's failure must not stop the others
                        log.warning(
                            "outbox consumer failed",
                            extra={"consumer": sub.consumer, "message_id": str(msg.id), "error": repr(exc)},
                        )
                        error = f"{sub.consumer}: {exc!r}"
                await self._settle(msg, error)
                delivered += error is None

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("outbox dispatcher iteration failed")
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for fut in (waiter, stopper):
                fut.cancel()
