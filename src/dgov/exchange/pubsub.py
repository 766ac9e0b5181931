"""Pub/sub use cases: publish events, manage subscriptions, look at deliveries, redeliver, replay.

An event is written to the node's append-only stream (`exchange_events`) and fanned out to the matching
subscriptions as delivery rows in the producer's own unit of work; one outbox message then carries the
delivery work (see webhooks.py) and the copy for the event bus (bus.py). So an event, its deliveries and
the work to do them commit together or not at all, and a crash after the commit loses nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import insert, select

from dgov.exchange.pubsub_models import (
    deliveries_t,
    event_types_t,
    events_t,
    subscriptions_t,
)
from dgov.exchange.pubsub_types import BUILTIN, BUILTIN_BY_NAME
from dgov.identity import Principal, is_operator, register
from dgov.kernel import clock
from dgov.kernel.canonical import canonical_json
from dgov.kernel.config import get_settings
from dgov.kernel.errors import FieldError, NotFound, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database, UnitOfWork

EVENT_TOPIC = "exchange.event"  # outbox topic: one message per event (webhook fan-out + bus copy)
RETRY_TOPIC = "exchange.webhook.retry"  # outbox topic: retries, redeliveries, replays
DEFAULT_MAX_ATTEMPTS = 8
# Events that happen to a person once: publishing one again for the same subject returns the first.
ONCE_PER_SUBJECT = frozenset({"person.born", "person.died"})
MEMBER_RE = re.compile(r"^[A-Z]{2,10}/[A-Za-z0-9.\-_]{1,50}$")
CODE_RE = re.compile(r"^[A-Za-z0-9.\-_]{1,50}$")
FILTER_KEY_RE = re.compile(r"^[a-z_][a-z0-9_]{0,49}$")


# --- authorisation ----------------------------------------------------------------------------------


@register("exchange.events.manage")
def _manage(p: Principal, _resource: Any) -> bool:
    """Operators, logged in with their second factor, manage every member's subscriptions."""
    return is_operator(p) and p.level >= 2


@register("exchange.events.member")
def _member(p: Principal, member: Any) -> bool:
    """A member's own subsystem (a signed client `INSTANCE/CLASS/CODE/SUB`) manages its subscriptions."""
    if is_operator(p) and p.level >= 2:
        return True
    if p.kind != "client" or not p.client_id or not isinstance(member, str):
        return False
    parts = p.client_id.split("/")
    return len(parts) == 4 and f"{parts[1]}/{parts[2]}" == member


# --- views ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventTypeView:
    name: str
    owner: str
    description: dict[str, str]
    schema: dict[str, Any]
    status: str


@dataclass(frozen=True)
class PublishedEvent:
    id: uuid.UUID
    offset: int
    type: str
    new: bool = True  # False: the person already had this once-in-a-life event, which is returned


# --- event types ------------------------------------------------------------------------------------


async def ensure_event_types(uow: UnitOfWork) -> int:
    """Write the built-in event types this node does not have yet; returns how many were added."""
    have = set((await uow.session.execute(select(event_types_t.c.name))).scalars())
    now = clock.now()
    rows = [
        {
            "name": d.name,
            "owner": d.owner,
            "schema": d.schema,
            "description": d.description,
            "status": "active",
            "created_at": now,
        }
        for d in BUILTIN
        if d.name not in have
    ]
    if rows:
        await uow.session.execute(insert(event_types_t), rows)
    return len(rows)


async def list_event_types(db: Database) -> list[EventTypeView]:
    async with db.uow(readonly=True) as uow:
        rows = (await uow.session.execute(select(event_types_t).order_by(event_types_t.c.name))).all()
    found = {r.name: EventTypeView(r.name, r.owner, r.description, r.schema, r.status) for r in rows}
    for d in BUILTIN:  # known before first use, even on a node that has published nothing yet
        found.setdefault(d.name, EventTypeView(d.name, d.owner, d.description, d.schema, "active"))
    return [found[k] for k in sorted(found)]


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Draft202012Validator:

    return Draft202012Validator(json.loads(schema_json), format_checker=Draft202012Validator.FORMAT_CHECKER)


async def event_type_schema(uow: UnitOfWork, name: str) -> tuple[str, dict[str, Any]]:
    row = (
        await uow.session.execute(
            select(event_types_t.c.owner, event_types_t.c.schema, event_types_t.c.status).where(
                event_types_t.c.name == name
            )
        )
    ).first()
    if row is None:
        d = BUILTIN_BY_NAME.get(name)
        if d is None:
            raise NotFound("Unknown event type {name}", params={"name": name})
        await ensure_event_types(uow)
        return d.owner, d.schema
    if row.status != "active":
        raise NotFound("Unknown event type {name}", params={"name": name})
    return row.owner, row.schema


def _schema_errors(schema: dict[str, Any], payload: dict[str, Any]) -> list[FieldError]:
    v = _validator(canonical_json(schema).decode())
    errors = []
    for e in sorted(v.iter_errors(payload), key=lambda e: list(map(str, e.absolute_path))):
        loc: tuple[str | int, ...] = ("payload", *e.absolute_path)
        errors.append(FieldError(loc, "Invalid value: {reason}", {"reason": e.message[:200]}))
    return errors


# --- publishing -------------------------------------------------------------------------------------


def matches_filters(filters: dict[str, str], payload: dict[str, Any]) -> bool:
    for key, want in filters.items():
        have = payload.get(key)
        if isinstance(have, list):
            if want not in [str(x) for x in have]:
                return False
        elif have is None or str(have) != want:
            return False
    return True


def envelope(
    *,
    event_id: uuid.UUID,
    offset: int,
    type_: str,
    source: str,
    subject: str | None,
    created_at: datetime,
    payload: dict[str, Any],
    node: str,
) -> dict[str, Any]:
    """What subscribers receive: a CloudEvents 1.0 event in its JSON format, with dgov's extensions
    `dgovoffset` (the stream offset, for replay) and `dgovnode` (the publishing node)."""
    env: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(event_id),
        "type": type_,
        "source": source,
        "time": created_at.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "dgovoffset": offset,
        "dgovnode": node,
        "data": payload,
    }
    if subject:
        env["subject"] = subject
    return env


def delivery_job(delivery_id: uuid.UUID, sub: Any, attempts: int) -> dict[str, Any]:
    return {
        "delivery_id": str(delivery_id),
        "subscription_id": str(sub.id),
        "url": sub.url,
        "attempts": attempts,
        "round_attempts": 0,
        "max_attempts": sub.max_attempts,
    }


async def publish_event(
    uow: UnitOfWork,
    event_type: str,
    payload: dict[str, Any],
    *,
    subject_id: str | None = None,
    instance: str | None = None,
    node: str | None = None,
) -> PublishedEvent:
    """Append an event to the stream and queue its deliveries, in the caller's unit of work (which the
    caller commits). The payload is checked against the event type's JSON Schema first (ValidationFailed,
    NotFound for an unknown type). `instance` and `node` default to this node's settings."""
    if instance is None or node is None:
        settings = get_settings()
        instance = settings.exchange_instance if instance is None else instance
        node = settings.node_name if node is None else node
    owner, schema = await event_type_schema(uow, event_type)
    errors = _schema_errors(schema, payload)
    if errors:
        raise ValidationFailed(errors=errors)
    if subject_id and event_type in ONCE_PER_SUBJECT:
        # A birth reaches the stream from the online service that approved it and again from the civil
        # status record it created; subscribers must hear of it once.
        found = (
            await uow.session.execute(
                select(events_t.c.id, events_t.c.stream_offset)
                .where(events_t.c.subject == subject_id, events_t.c.type == event_type)
                .limit(1)
            )
        ).first()
        if found is not None:
            return PublishedEvent(found.id, found.stream_offset, event_type, new=False)
    now = clock.now()
    event_id = new_id()
    source = f"{instance}/{owner}"
    offset = (
        await uow.session.execute(
            insert(events_t)
            .values(
                id=event_id,
                type=event_type,
                source=source,
                subject=subject_id,
                payload=payload,
                created_at=now,
            )
            .returning(events_t.c.stream_offset)
        )
    ).scalar_one()
    subs = (
        await uow.session.execute(
            select(subscriptions_t).where(
                subscriptions_t.c.event_type == event_type, subscriptions_t.c.status == "active"
            )
        )
    ).all()
    jobs = []
    rows = []
    for sub in subs:
        if not matches_filters(sub.filters or {}, payload):
            continue
        delivery_id = new_id()
        rows.append(
            {
                "id": delivery_id,
                "subscription_id": sub.id,
                "event_id": event_id,
                "event_offset": offset,
                "status": "pending",
                "attempts": 0,
                "round_attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
        jobs.append(delivery_job(delivery_id, sub, 0))
    if rows:
        await uow.session.execute(insert(deliveries_t), rows)
    env = envelope(
        event_id=event_id,
        offset=offset,
        type_=event_type,
        source=source,
        subject=subject_id,
        created_at=now,
        payload=payload,
        node=node,
    )
    uow.publish(EVENT_TOPIC, {"event": env, "deliveries": jobs}, key=str(event_id))
    return PublishedEvent(event_id, offset, event_type)
