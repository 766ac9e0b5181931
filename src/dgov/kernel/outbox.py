"""Delivery of outbox events to consumers: at least once, idempotent by receipt.

Producers write events with `UnitOfWork.publish` in their own transaction. The dispatcher claims due
messages with a lease (so a worker killed mid-delivery only delays a message until the lease ends),
hands each to every consumer subscribed to its topic, and records each consumer's receipt in the
consumer's own transaction. A message whose receipt exists is never handed to that consumer again;
a failing consumer is retried with exponential backoff, then parked as `dead` for an operator.

The lease end a worker wrote when it claimed a message is its fencing token: a worker whose lease ran
out (and whose message another worker has since claimed) can no longer settle that message.
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
from typing import Any, cast

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from dgov.kernel import clock
from dgov.kernel.models import OutboxDelivery, OutboxMessage
from dgov.kernel.uow import Database, UnitOfWork

log = logging.getLogger(__name__)
_MESSAGES = cast(Table, OutboxMessage.__table__)


@dataclass(frozen=True)
class Message:
    id: uuid.UUID
    topic: str
    key: str | None
    payload: dict[str, Any]
    created_at: datetime
    attempts: int


# A handler writes through the unit of work it is given and must not commit it: the dispatcher commits
# the handler's changes together with its receipt, so they happen exactly once or not at all.
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
    """Exponential backoff with jitter: attempt n waits between half and all of min(cap, base·2ⁿ⁻¹)."""
    # The exponent is bounded so that a large attempt count cannot overflow the float conversion.
    ceiling = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 1000))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter, not security


@dataclass(frozen=True)
class _Claim:
    message: Message
    lease_until: datetime  # the fencing token: settling only succeeds while the row still carries it


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
        self.registry = registry if reg is None else reg
        self.lease = lease
        self.max_attempts = max_attempts
        self.batch = batch
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def _claim(self, due_by: datetime) -> list[_Claim]:
        """The next batch of due messages, leased to this worker; empty when nothing more is due."""
        while True:
            claims = await self._claim_batch(due_by)
            if claims is None or claims:
                return claims or []
            # The whole batch was parked as dead: look at the next one.

    async def _claim_batch(self, due_by: datetime) -> list[_Claim] | None:
        t = _MESSAGES
        now = clock.now()
        lease_until = now + self.lease
        async with self.db.uow() as uow:
            due = (
                select(t.c.id, t.c.attempts)
                .where(
                    and_(
                        t.c.status == "pending",
                        t.c.available_at <= due_by,
                        or_(t.c.locked_until.is_(None), t.c.locked_until < now),
                    )
                )
                .order_by(t.c.created_at, t.c.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            found = (await uow.session.execute(due)).all()
            if not found:
                return None
            # A pending message that has used up its attempts got there only by its worker losing the lease
            # (died or hung) on the last one: a message that kills its workers must not loop forever.
            exhausted = [r.id for r in found if r.attempts >= self.max_attempts]
            ids = [r.id for r in found if r.attempts < self.max_attempts]
            if exhausted:
                await uow.session.execute(
                    update(t)
                    .where(t.c.id.in_(exhausted))
                    .values(
                        status="dead",
                        locked_until=None,
                        last_error=f"the worker's lease expired on each of {self.max_attempts} attempts",
                    )
                )
                for msg_id in exhausted:
                    log.error("outbox message parked as dead", extra={"message_id": str(msg_id)})
            rows = []
            if ids:
                rows = list(
                    (
                        await uow.session.execute(
                            update(t)
                            .where(t.c.id.in_(ids))
                            .values(locked_until=lease_until, attempts=t.c.attempts + 1)
                            .returning(t.c.id, t.c.topic, t.c.key, t.c.payload, t.c.created_at, t.c.attempts)
                        )
                    ).all()
                )
            await uow.commit()
        msgs = [Message(r.id, r.topic, r.key, r.payload, r.created_at, r.attempts) for r in rows]
        # RETURNING has no defined order; ids (UUIDv7) break ties between events of one instant.
        msgs.sort(key=lambda m: (m.created_at, m.id))
        return [_Claim(m, lease_until) for m in msgs]

    async def _has_receipt(self, consumer: str, msg_id: uuid.UUID) -> bool:
        async with self.db.uow(readonly=True) as uow:
            found = await uow.session.scalar(
                select(OutboxDelivery.id).where(
                    OutboxDelivery.message_id == msg_id, OutboxDelivery.consumer == consumer
                )
            )
        return found is not None

    async def _deliver_to(self, sub: Subscription, msg: Message) -> None:
        # The check is a read: on SQLite a write transaction holds the database's only write lock, which a
        # consumer calling a slow outside service must not keep from every other writer.
        if await self._has_receipt(sub.consumer, msg.id):
            return
        try:
            async with self.db.uow() as uow:
                await sub.handler(uow, msg)
                receipt = OutboxDelivery(message_id=msg.id, consumer=sub.consumer, delivered_at=clock.now())
                uow.session.add(receipt)
                await uow.commit()
        except IntegrityError:
            # Another worker delivered it between our check and our commit: its receipt stands, and ours
            # (with the consumer's changes) was rolled back. Any other constraint violation is the consumer's.
            if await self._has_receipt(sub.consumer, msg.id):
                return
            raise

    async def _settle(self, claim: _Claim, error: str | None) -> bool:
        """Record the outcome; False when the lease was lost meanwhile (another worker owns the message)."""
        t = _MESSAGES
        msg = claim.message
        now = clock.now()
        if error is None:
            values: dict[str, Any] = {"status": "delivered", "delivered_at": now, "locked_until": None}
        elif msg.attempts >= self.max_attempts:
            values = {"status": "dead", "last_error": error[:2000], "locked_until": None}
            log.error("outbox message parked as dead", extra={"message_id": str(msg.id), "topic": msg.topic})
        else:
            values = {
                "available_at": now + backoff(msg.attempts),
                "last_error": error[:2000],
                "locked_until": None,
            }
        async with self.db.uow() as uow:
            result = await uow.session.execute(
                update(t).where(t.c.id == msg.id, t.c.locked_until == claim.lease_until).values(**values)
            )
            await uow.commit()
        if result.rowcount == 0:  # type: ignore[attr-defined]
            log.warning("outbox lease lost before settling", extra={"message_id": str(msg.id)})
            return False
        return True

    async def run_once(self) -> int:
        """Deliver every message that is due now; returns how many were settled as delivered.

        "Now" is fixed when the call starts, so a message retried during this call waits for the next
        one: each message is claimed at most once per call, and the call always ends.
        """
        due_by = clock.now()
        delivered = 0
        while True:
            claims = await self._claim(due_by)
            if not claims:
                return delivered
            for claim in claims:
                msg = claim.message
                error: str | None = None
                for sub in self.registry.for_topic(msg.topic):
                    try:
                        await self._deliver_to(sub, msg)
                    except Exception as exc:  # noqa: BLE001 — worker loop: one consumer's failure is logged, retried, and must not stop the others
                        log.warning(
                            "outbox consumer failed",
                            extra={"consumer": sub.consumer, "message_id": str(msg.id), "error": repr(exc)},
                        )
                        error = f"{sub.consumer}: {exc!r}"
                if await self._settle(claim, error) and error is None:
                    delivered += 1

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Cleared before the run, not after: a commit made while it runs must wake the next one.
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("outbox dispatcher iteration failed")
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for fut in (waiter, stopper):
                fut.cancel()
