"""Signed webhook delivery: POST each event to its subscribers, log every attempt, retry with exponential
backoff and jitter, park a delivery as a dead letter after its subscription's number of attempts.

The work arrives as outbox messages (topics `exchange.event` and `exchange.webhook.retry`), so it runs
wherever the outbox dispatcher runs (`dgov serve`, `dgov outbox run`) and inherits its durability: a
message whose worker died is claimed again when its lease ends. Delivery is therefore at least once;
receivers de-duplicate by the `Dgov-Event-Id` header (the CloudEvents `id`).

A request is signed with the node key (RFC 9421, Ed25519) over `@method`, `@target-uri`,
`content-digest` (RFC 9530) and `dgov-event-id`, with `created`, `nonce` and `keyid` parameters: a
receiver checks it exactly as it checks a gateway response, against `dgov exchange node-key`.

No database transaction is open while a request is in flight: on SQLite a write transaction holds the
only write lock, which a slow receiver must not keep from every other writer.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import and_, insert, select, update

from dgov.exchange import httpsig, webhook_urls
from dgov.exchange.pubsub import RETRY_TOPIC
from dgov.exchange.pubsub_models import attempts_t, deliveries_t, subscriptions_t
from dgov.kernel import clock
from dgov.kernel.config import get_settings
from dgov.kernel.ids import new_id
from dgov.kernel.keys import NodeKey, ensure_node_key
from dgov.kernel.models import outbox_messages
from dgov.kernel.outbox import Message, backoff
from dgov.kernel.uow import UnitOfWork

EVENT_ID_HEADER = "Dgov-Event-Id"
CONTENT_TYPE = "application/cloudevents+json"
COVERED = ("@method", "@target-uri", "content-digest", "dgov-event-id")
SIGNATURE_LABEL = "dgov"
USER_AGENT = "dgov-webhooks/1"


@dataclass(frozen=True)
class WebhookPolicy:
    timeout: float = 10.0  # seconds for one POST, connection included
    backoff_base: float = 5.0  # attempt n waits about base·2ⁿ⁻¹ seconds (with jitter)
    backoff_cap: float = 3600.0


@dataclass(frozen=True)
class NodeContext:
    """What signing needs: the node key, and the node's name for the envelope."""

    node_key: NodeKey
    node: str


_policy = WebhookPolicy()
_context: NodeContext | None = None


def configure(*, context: NodeContext | None = None, policy: WebhookPolicy | None = None) -> None:
    """Set the node key and the retry policy (tests; a process otherwise reads its settings)."""
    global _context, _policy
    if context is not None:
        _context = context
    if policy is not None:
        _policy = policy


def policy() -> WebhookPolicy:
    return _policy


def context() -> NodeContext:
    global _context
    if _context is None:
        s = get_settings()
        _context = NodeContext(node_key=ensure_node_key(s.keys_dir), node=s.node_name)
    return _context


# --- signing (shared with receivers) ---------------------------------------------------------------


def body_of(env: Mapping[str, Any]) -> bytes:
    return json.dumps(env, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def sign_delivery(url: str, body: bytes, event_id: str, key: NodeKey, *, nonce: str) -> dict[str, str]:
    """The headers of a signed webhook POST of `body` to `url`."""
    headers = {
        "content-type": CONTENT_TYPE,
        "content-digest": httpsig.content_digest(body),
        EVENT_ID_HEADER.lower(): event_id,
    }
    msg = httpsig.Message(method="POST", target_uri=url, headers=headers)
    sig = httpsig.sign(
        msg,
        key=key.private_key,
        keyid=key.key_id,
        components=COVERED,
        created=int(clock.now().timestamp()),
        nonce=nonce,
        label=SIGNATURE_LABEL,
    )
    return {**headers, **sig, "user-agent": USER_AGENT}


def verify_delivery(
    *, url: str, headers: Mapping[str, str], body: bytes, node_public_pem: str, now: int | None = None
) -> str:
    """For a receiver: check a webhook POST's digest and signature against the sending node's public key
    (`dgov exchange node-key`); returns the event id. Raises httpsig.SignatureError."""
    h = httpsig.headers_of(headers)
    httpsig.check_content_digest(h.get("content-digest"), body)
    public = httpsig.load_public_pem(node_public_pem)
    alg = httpsig.algorithm_of(public)

    def resolve(keyid: str) -> tuple[httpsig.PublicKey, str]:
        if keyid != httpsig.jwk_thumbprint(public):
            raise httpsig.SignatureError("key-unknown", "the signature names another key")
        return public, alg

    httpsig.verify(
        httpsig.Message(method="POST", target_uri=url, headers=h),
        resolve=resolve,
        required=COVERED,
        now=int(clock.now().timestamp()) if now is None else now,
    )
    return h[EVENT_ID_HEADER.lower()]


# --- one batch of delivery work ----------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    delivery_id: uuid.UUID
    subscription_id: uuid.UUID
    url: str
    attempts: int  # tries made before this one, ever (the settle fence)
    round_attempts: int  # tries made since the delivery was last (re)queued
    max_attempts: int

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Job:
        return cls(
            uuid.UUID(raw["delivery_id"]),
            uuid.UUID(raw["subscription_id"]),
            str(raw["url"]),
            int(raw["attempts"]),
            int(raw["round_attempts"]),
            int(raw["max_attempts"]),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "delivery_id": str(self.delivery_id),
            "subscription_id": str(self.subscription_id),
            "url": self.url,
            "attempts": self.attempts,
            "round_attempts": self.round_attempts,
            "max_attempts": self.max_attempts,
        }


@dataclass(frozen=True)
class Outcome:
    job: Job
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def _post(client: httpx.AsyncClient, job: Job, env: Mapping[str, Any], ctx: NodeContext) -> Outcome:
    body = body_of(env)
    started = clock.now()
    t0 = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        # Checked again now, not only when subscribed: the name may resolve to an internal address by
        # now. The request goes to the address checked; the signature names the URL as registered.
        checked = await webhook_urls.check(job.url)
        target, extra_headers, extensions = webhook_urls.pinned(checked)
        headers = sign_delivery(job.url, body, str(env["id"]), ctx.node_key, nonce=str(new_id()))
        resp = await client.post(
            target, content=body, headers={**headers, **extra_headers}, extensions=extensions
        )
        status = resp.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}: {resp.text[:200]}"
    except webhook_urls.WebhookUrlRefused as exc:
        error = f"refused ({exc.reason}): {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
    return Outcome(job, started, int((time.perf_counter() - t0) * 1000), status, error)


async def _still_due(uow: UnitOfWork, jobs: list[Job]) -> list[Job]:
    """The jobs whose delivery still waits for exactly this attempt with its subscription active; a job
    overtaken by a redelivery, a replay or another worker is dropped without a request."""
    if not jobs:
        return []
    rows = (
        await uow.session.execute(
            select(
                deliveries_t.c.id, deliveries_t.c.attempts, deliveries_t.c.status, subscriptions_t.c.status
            )
            .join(subscriptions_t, subscriptions_t.c.id == deliveries_t.c.subscription_id)
            .where(deliveries_t.c.id.in_([j.delivery_id for j in jobs]))
        )
    ).all()
    state = {r[0]: (r[1], r[2], r[3]) for r in rows}
    return [j for j in jobs if state.get(j.delivery_id) == (j.attempts, "pending", "active")]


async def _settle(uow: UnitOfWork, env: Mapping[str, Any], out: Outcome) -> None:
    job = out.job
    now = clock.now()
    attempts, rounds = job.attempts + 1, job.round_attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "round_attempts": rounds,
        "last_status": out.status_code,
        "last_error": out.error,
    }
    retry_at: datetime | None = None
    if out.ok:
        outcome = "delivered"
        values.update(status="delivered", delivered_at=now, next_attempt_at=None)
    elif rounds >= job.max_attempts:
        outcome = "dead"
        values.update(status="dead", next_attempt_at=None)
    else:
        outcome = "retry"
        retry_at = now + backoff(rounds, base=_policy.backoff_base, cap=_policy.backoff_cap)
        values.update(next_attempt_at=retry_at)
    result = await uow.session.execute(
        update(deliveries_t)
        .where(
            and_(
                deliveries_t.c.id == job.delivery_id,
                deliveries_t.c.attempts == job.attempts,
                deliveries_t.c.status == "pending",
            )
        )
        .values(**values)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        # Settled meanwhile by a redelivery or replay racing this one: its attempt stays in the log.
        outcome, retry_at = "stale", None
    await uow.session.execute(
        insert(attempts_t).values(
            id=new_id(),
            delivery_id=job.delivery_id,
            attempt=attempts,
            started_at=out.started_at,
            duration_ms=out.duration_ms,
            status_code=out.status_code,
            error=out.error[:2000] if out.error else None,
            outcome=outcome,
        )
    )
    if retry_at is not None:
        # An outbox message that falls due at the retry time: the dispatcher's own queue is the timer.
        nxt = replace(job, attempts=attempts, round_attempts=rounds)
        await uow.session.execute(
            insert(outbox_messages).values(
                id=new_id(),
                topic=RETRY_TOPIC,
                key=str(env["id"]),
                payload={"event": dict(env), "deliveries": [nxt.as_json()]},
                created_at=now,
                status="pending",
                available_at=retry_at,
                attempts=0,
            )
        )


async def deliver(uow: UnitOfWork, message: Message) -> None:
    """Outbox consumer body: POST the message's deliveries concurrently, then record every outcome."""
    env: dict[str, Any] = message.payload["event"]
    jobs = [Job.parse(j) for j in message.payload.get("deliveries") or []]
    if not jobs:
        return
    due = await _still_due(uow, jobs)
    # Ends the read transaction (and, on SQLite, releases the write lock) before any request is made.
    await uow.session.rollback()
    if not due:
        return
    ctx = context()
    async with httpx.AsyncClient(timeout=_policy.timeout, follow_redirects=False) as client:
        outcomes = await asyncio.gather(*(_post(client, j, env, ctx) for j in due))
    for out in outcomes:
        await _settle(uow, env, out)
