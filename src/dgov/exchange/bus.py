"""NATS JetStream as a second way out for exchange events (`DGOV_EVENT_BUS_URL=nats://…`).

Every event of the node's stream is published on `dgov.<instance>.events.<type>` into the JetStream
stream `DGOV_<INSTANCE>_EVENTS`, with the event id as `Nats-Msg-Id` so that JetStream drops the second
copy when the outbox hands an event over twice. Members read with a durable pull consumer (`subscriber`
and `fetch` below), acknowledging what they processed. The body is the same CloudEvents JSON a webhook
receives. Without the setting nothing is published and nothing connects.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

from dgov.kernel.config import get_settings

# Two minutes is JetStream's default window; a day covers an outbox redelivery after a long outage.
DUPLICATE_WINDOW_SECONDS = 86400.0
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


def _token(value: str) -> str:
    """A NATS subject token (no dots, spaces or wildcards)."""
    if not _TOKEN.match(value):
        raise ValueError(f"not usable in a NATS subject: {value!r}")
    return value


def subject_prefix(instance: str) -> str:
    return f"dgov.{_token(instance)}.events"


def subject_for(instance: str, event_type: str) -> str:
    parts = [_token(p) for p in event_type.split(".")]
    return f"{subject_prefix(instance)}.{'.'.join(parts)}"


def stream_name(instance: str) -> str:
    return f"DGOV_{_token(instance).upper().replace('-', '_')}_EVENTS"


@dataclass(frozen=True)
class Received:
    event: dict[str, Any]
    subject: str
    ack: Callable[[], Awaitable[None]]


class EventBus:
    """One connection to NATS and this node's event stream; connects at first use."""

    def __init__(self, url: str, instance: str) -> None:
        self.url = url
        self.instance = instance
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()

    @property
    def stream(self) -> str:
        return stream_name(self.instance)

    async def jetstream(self) -> JetStreamContext:
        async with self._lock:
            if self._js is None or self._nc is None or self._nc.is_closed:
                self._nc = await nats.connect(self.url, connect_timeout=5, max_reconnect_attempts=3)
                self._js = self._nc.jetstream()
                await self._ensure_stream(self._js)
            return self._js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=[f"{subject_prefix(self.instance)}.>"],
                    duplicate_window=DUPLICATE_WINDOW_SECONDS,
                )
            )

    async def publish(self, event: Mapping[str, Any]) -> bool:
        """Publish one event envelope; returns False when JetStream already had it (a duplicate)."""
        js = await self.jetstream()
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        ack = await js.publish(
            subject_for(self.instance, str(event["type"])),
            body,
            stream=self.stream,
            headers={"Nats-Msg-Id": str(event["id"]), "Content-Type": "application/cloudevents+json"},
        )
        return not ack.duplicate

    async def subscriber(
        self, durable: str, *, event_type: str | None = None, from_sequence: int | None = None
    ) -> JetStreamContext.PullSubscription:
        """A durable pull consumer named `durable` (a member's subsystem, e.g. GOV_BHXH_BHYT); it keeps its
        position across reconnects. `from_sequence` starts a new consumer at a JetStream sequence."""
        js = await self.jetstream()
        subject = (
            subject_for(self.instance, event_type) if event_type else f"{subject_prefix(self.instance)}.>"
        )
        config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
        if from_sequence is not None:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = from_sequence
        return await js.pull_subscribe(subject, durable=_token(durable), stream=self.stream, config=config)

    async def close(self) -> None:
        async with self._lock:
            if self._nc is not None and not self._nc.is_closed:
                await self._nc.drain()
            self._nc, self._js = None, None


async def fetch(sub: JetStreamContext.PullSubscription, batch: int = 10, wait: float = 1.0) -> list[Received]:
    """Up to `batch` events for a pull consumer; empty when none arrived within `wait` seconds."""
    try:
        msgs = await sub.fetch(batch, timeout=wait)
    except nats.errors.TimeoutError:
        return []
    return [Received(json.loads(m.data), m.subject, m.ack) for m in msgs]


_bus: EventBus | None = None
_bus_loop: asyncio.AbstractEventLoop | None = None
_override: tuple[str, str] | None = None


def configure(url: str | None, instance: str = "VN") -> None:
    """Point this process at a bus (or none, with url=None to go back to the settings)."""
    global _override, _bus
    _override = (url, instance) if url is not None else None
    _bus = None


def _target() -> tuple[str, str]:
    if _override is not None:
        return _override
    s = get_settings()
    return s.event_bus_url, s.exchange_instance


def current() -> EventBus | None:
    """This process's bus, or None when no bus is configured."""
    global _bus, _bus_loop
    url, instance = _target()
    if not url:
        return None
    loop = asyncio.get_running_loop()
    # A connection belongs to the event loop that opened it (tests run one loop per test).
    if _bus is None or _bus_loop is not loop or (_bus.url, _bus.instance) != (url, instance):
        _bus, _bus_loop = EventBus(url, instance), loop
    return _bus


async def forward(event: Mapping[str, Any]) -> None:
    """Outbox consumer body: publish the event when a bus is configured (a failure makes the outbox
    retry later; JetStream de-duplicates by message id)."""
    b = current()
    if b is not None:
        await b.publish(event)
