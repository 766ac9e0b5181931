"""Subscription use cases: subscribe a member's subsystem, list and disable subscriptions, look at
deliveries and their attempt logs, redeliver one (e.g. a dead letter), replay a subscription from an
offset of the node's event stream. Authorisation is checked here for every use case."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update

from dgov.exchange import webhook_urls
from dgov.exchange.pubsub import (
    CODE_RE,
    DEFAULT_MAX_ATTEMPTS,
    FILTER_KEY_RE,
    MEMBER_RE,
    RETRY_TOPIC,
    delivery_job,
    envelope,
    event_type_schema,
    matches_filters,
)
from dgov.exchange.pubsub_models import attempts_t, deliveries_t, events_t, subscriptions_t
from dgov.identity import Principal, audit_by, require
from dgov.kernel import clock
from dgov.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database, UnitOfWork


@dataclass(frozen=True)
class SubscriptionView:
    id: uuid.UUID
    member: str
    subsystem: str
    event_type: str
    filters: dict[str, str]
    url: str
    max_attempts: int
    status: str
    created_by: str
    created_at: datetime
    pending: int = 0
    delivered: int = 0
    dead: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "member": self.member,
            "subsystem": self.subsystem,
            "event_type": self.event_type,
            "filters": self.filters,
            "url": self.url,
            "max_attempts": self.max_attempts,
            "status": self.status,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "deliveries": {"pending": self.pending, "delivered": self.delivered, "dead": self.dead},
        }


@dataclass(frozen=True)
class DeliveryView:
    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_offset: int
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "subscription_id": str(self.subscription_id),
            "event_id": str(self.event_id),
            "offset": self.event_offset,
            "event_type": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }


@dataclass(frozen=True)
class AttemptView:
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    outcome: str

    def as_json(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "started_at": self.started_at.isoformat(),
            "duration_ms": self.duration_ms,
            "status_code": self.status_code,
            "error": self.error,
            "outcome": self.outcome,
        }


# --- subscriptions ----------------------------------------------------------------------------------


def _check_url(url: str) -> bool:
    return bool(re.match(r"^https?://[^\s/?#]+[^\s]*$", url)) and len(url) <= 1000


async def add_subscription(
    db: Database,
    principal: Principal,
    *,
    member: str,
    subsystem: str,
    event_type: str,
    url: str,
    filters: dict[str, str] | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    url_policy: webhook_urls.UrlPolicy | None = None,
) -> SubscriptionView:
    """`url_policy`: where webhooks may point (the caller's node settings; default: this process's)."""
    member = member.strip()
    require(principal, "exchange.events.member", member)
    filters = {k.strip(): str(v).strip() for k, v in (filters or {}).items()}
    errors: list[FieldError] = []
    if not MEMBER_RE.match(member):
        errors.append(FieldError(("member",), "Give the member as CLASS/CODE, e.g. GOV/BHXH"))
    if not CODE_RE.match(subsystem):
        errors.append(FieldError(("subsystem",), "Give the subsystem's code (letters, digits, . - _)"))
    if not _check_url(url):
        errors.append(FieldError(("url",), "Give an https:// address"))
    else:
        try:
            await webhook_urls.check(url, url_policy)
        except webhook_urls.WebhookUrlRefused as exc:
            errors.append(FieldError(("url",), str(exc)))
    if not 1 <= max_attempts <= 50:
        errors.append(FieldError(("max_attempts",), "Between 1 and 50 attempts"))
    async with db.uow() as uow:
        try:
            _owner, schema = await event_type_schema(uow, event_type)
        except NotFound:
            errors.append(FieldError(("event_type",), "Unknown event type {name}", {"name": event_type}))
            schema = {}
        known = set((schema.get("properties") or {}).keys())
        for key in filters:
            if not FILTER_KEY_RE.match(key) or (schema and key not in known):
                errors.append(FieldError(("filters", key), "The event has no attribute {key}", {"key": key}))
        if errors:
            raise ValidationFailed(errors=errors)
        now = clock.now()
        sub_id = new_id()
        await uow.session.execute(
            insert(subscriptions_t).values(
                id=sub_id,
                member=member,
                subsystem=subsystem,
                event_type=event_type,
                filters=filters,
                url=url,
                max_attempts=max_attempts,
                status="active",
                created_by=principal.ref,
                created_at=now,
            )
        )
        uow.audit(
            audit_by(
                principal,
                action="exchange.subscription.create",
                object_type="exchange_subscription",
                object_id=str(sub_id),
                details={
                    "member": member,
                    "subsystem": subsystem,
                    "event_type": event_type,
                    "url": url,
                    "filters": filters,
                },
            )
        )
        await uow.commit()
    return SubscriptionView(
        sub_id, member, subsystem, event_type, filters, url, max_attempts, "active", principal.ref, now
    )


async def list_subscriptions(
    db: Database, principal: Principal, *, member: str | None = None
) -> list[SubscriptionView]:
    if member is None:
        require(principal, "exchange.events.manage")
    else:
        require(principal, "exchange.events.member", member)
    counts = select(
        deliveries_t.c.subscription_id,
        deliveries_t.c.status,
        func.count().label("n"),
    ).group_by(deliveries_t.c.subscription_id, deliveries_t.c.status)
    q = select(subscriptions_t).order_by(subscriptions_t.c.created_at, subscriptions_t.c.id)
    if member is not None:
        q = q.where(subscriptions_t.c.member == member)
    async with db.uow(readonly=True) as uow:
        subs = (await uow.session.execute(q)).all()
        tally: dict[tuple[uuid.UUID, str], int] = {
            (r.subscription_id, r.status): r.n for r in (await uow.session.execute(counts)).all()
        }
    return [
        SubscriptionView(
            s.id,
            s.member,
            s.subsystem,
            s.event_type,
            s.filters or {},
            s.url,
            s.max_attempts,
            s.status,
            s.created_by,
            s.created_at,
            tally.get((s.id, "pending"), 0),
            tally.get((s.id, "delivered"), 0),
            tally.get((s.id, "dead"), 0),
        )
        for s in subs
    ]


async def _subscription(uow: UnitOfWork, sub_id: uuid.UUID) -> Any:
    row = (await uow.session.execute(select(subscriptions_t).where(subscriptions_t.c.id == sub_id))).first()
    if row is None:
        raise NotFound("No such subscription")
    return row


async def get_subscription(db: Database, principal: Principal, sub_id: uuid.UUID) -> SubscriptionView:
    async with db.uow(readonly=True) as uow:
        s = await _subscription(uow, sub_id)
    require(principal, "exchange.events.member", s.member)
    return SubscriptionView(
        s.id,
        s.member,
        s.subsystem,
        s.event_type,
        s.filters or {},
        s.url,
        s.max_attempts,
        s.status,
        s.created_by,
        s.created_at,
    )


async def disable_subscription(db: Database, principal: Principal, sub_id: uuid.UUID) -> None:
    async with db.uow() as uow:
        s = await _subscription(uow, sub_id)
        require(principal, "exchange.events.member", s.member)
        if s.status == "disabled":
            return
        await uow.session.execute(
            update(subscriptions_t)
            .where(subscriptions_t.c.id == sub_id)
            .values(status="disabled", disabled_at=clock.now())
        )
        uow.audit(
            audit_by(
                principal,
                action="exchange.subscription.disable",
                object_type="exchange_subscription",
                object_id=str(sub_id),
            )
        )
        await uow.commit()


# --- deliveries -------------------------------------------------------------------------------------


async def list_deliveries(
    db: Database,
    principal: Principal,
    *,
    subscription_id: uuid.UUID | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[DeliveryView]:
    d, e = deliveries_t, events_t
    q = (
        select(d, e.c.type.label("event_type"))
        .join(e, e.c.id == d.c.event_id)
        .order_by(d.c.event_offset.desc(), d.c.id)
        .limit(max(1, min(limit, 1000)))
    )
    async with db.uow(readonly=True) as uow:
        if subscription_id is not None:
            s = await _subscription(uow, subscription_id)
            require(principal, "exchange.events.member", s.member)
            q = q.where(d.c.subscription_id == subscription_id)
        else:
            require(principal, "exchange.events.manage")
        if status is not None:
            q = q.where(d.c.status == status)
        rows = (await uow.session.execute(q)).all()
    return [
        DeliveryView(
            r.id,
            r.subscription_id,
            r.event_id,
            r.event_offset,
            r.event_type,
            r.status,
            r.attempts,
            r.next_attempt_at,
            r.last_status,
            r.last_error,
            r.created_at,
            r.delivered_at,
        )
        for r in rows
    ]


async def delivery_attempts(db: Database, principal: Principal, delivery_id: uuid.UUID) -> list[AttemptView]:
    async with db.uow(readonly=True) as uow:
        sub = await _delivery_subscription(uow, delivery_id)
        require(principal, "exchange.events.member", sub.member)
        rows = (
            await uow.session.execute(
                select(attempts_t)
                .where(attempts_t.c.delivery_id == delivery_id)
                .order_by(attempts_t.c.attempt, attempts_t.c.started_at)
            )
        ).all()
    return [
        AttemptView(r.attempt, r.started_at, r.duration_ms, r.status_code, r.error, r.outcome) for r in rows
    ]


async def _delivery_subscription(uow: UnitOfWork, delivery_id: uuid.UUID) -> Any:
    row = (
        await uow.session.execute(
            select(subscriptions_t)
            .join(deliveries_t, deliveries_t.c.subscription_id == subscriptions_t.c.id)
            .where(deliveries_t.c.id == delivery_id)
        )
    ).first()
    if row is None:
        raise NotFound("No such delivery")
    return row


async def _event_envelope(uow: UnitOfWork, event_id: uuid.UUID, node: str) -> dict[str, Any]:
    e = (await uow.session.execute(select(events_t).where(events_t.c.id == event_id))).one()
    return envelope(
        event_id=e.id,
        offset=e.stream_offset,
        type_=e.type,
        source=e.source,
        subject=e.subject,
        created_at=e.created_at,
        payload=e.payload,
        node=node,
    )


async def _requeue(uow: UnitOfWork, delivery: Any, sub: Any, node: str) -> None:
    """Set a delivery pending again with a fresh round of attempts and queue its work now."""
    now = clock.now()
    await uow.session.execute(
        update(deliveries_t)
        .where(deliveries_t.c.id == delivery.id)
        .values(status="pending", round_attempts=0, next_attempt_at=now, delivered_at=None)
    )
    job = delivery_job(delivery.id, sub, delivery.attempts)
    env = await _event_envelope(uow, delivery.event_id, node)
    uow.publish(RETRY_TOPIC, {"event": env, "deliveries": [job]}, key=str(delivery.event_id))


async def redeliver(db: Database, principal: Principal, delivery_id: uuid.UUID, *, node: str = "") -> None:
    """Send a delivery again (typically a dead letter), with a fresh round of attempts."""
    async with db.uow() as uow:
        sub = await _delivery_subscription(uow, delivery_id)
        require(principal, "exchange.events.member", sub.member)
        if sub.status != "active":
            raise Conflict("The subscription is disabled")
        delivery = (
            await uow.session.execute(select(deliveries_t).where(deliveries_t.c.id == delivery_id))
        ).one()
        await _requeue(uow, delivery, sub, node)
        uow.audit(
            audit_by(
                principal,
                action="exchange.delivery.redeliver",
                object_type="exchange_delivery",
                object_id=str(delivery_id),
            )
        )
        await uow.commit()


async def replay(
    db: Database, principal: Principal, subscription_id: uuid.UUID, *, from_offset: int, node: str = ""
) -> int:
    """Deliver again every event of the subscription's type from `from_offset` on that passes its filters,
    including events published before the subscription existed. Returns how many were queued."""
    if from_offset < 0:
        raise ValidationFailed(errors=[FieldError(("from_offset",), "The offset cannot be negative")])
    async with db.uow() as uow:
        sub = await _subscription(uow, subscription_id)
        require(principal, "exchange.events.member", sub.member)
        if sub.status != "active":
            raise Conflict("The subscription is disabled")
        events = (
            await uow.session.execute(
                select(events_t)
                .where(and_(events_t.c.type == sub.event_type, events_t.c.stream_offset >= from_offset))
                .order_by(events_t.c.stream_offset)
            )
        ).all()
        events = [e for e in events if matches_filters(sub.filters or {}, e.payload)]
        existing = {
            r.event_id: r
            for r in (
                await uow.session.execute(
                    select(deliveries_t).where(
                        deliveries_t.c.subscription_id == sub.id, deliveries_t.c.event_offset >= from_offset
                    )
                )
            ).all()
        }
        now = clock.now()
        jobs_by_event: list[tuple[dict[str, Any], dict[str, Any]]] = []
        new_rows = []
        for e in events:
            found = existing.get(e.id)
            if found is not None:
                await uow.session.execute(
                    update(deliveries_t)
                    .where(deliveries_t.c.id == found.id)
                    .values(status="pending", round_attempts=0, next_attempt_at=now, delivered_at=None)
                )
                job = delivery_job(found.id, sub, found.attempts)
            else:
                did = new_id()
                new_rows.append(
                    {
                        "id": did,
                        "subscription_id": sub.id,
                        "event_id": e.id,
                        "event_offset": e.stream_offset,
                        "status": "pending",
                        "attempts": 0,
                        "round_attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
                job = delivery_job(did, sub, 0)
            env = envelope(
                event_id=e.id,
                offset=e.stream_offset,
                type_=e.type,
                source=e.source,
                subject=e.subject,
                created_at=e.created_at,
                payload=e.payload,
                node=node,
            )
            jobs_by_event.append((env, job))
        if new_rows:
            await uow.session.execute(insert(deliveries_t), new_rows)
        # One outbox message per event, in offset order: the receiver sees the replay in stream order.
        for env, job in jobs_by_event:
            uow.publish(RETRY_TOPIC, {"event": env, "deliveries": [job]}, key=env["id"])
        uow.audit(
            audit_by(
                principal,
                action="exchange.subscription.replay",
                object_type="exchange_subscription",
                object_id=str(sub.id),
                details={"from_offset": from_offset, "events": len(jobs_by_event)},
            )
        )
        await uow.commit()
    return len(jobs_by_event)
