"""Helpers shared by the pub/sub tests: the webhook receiver, the exchange's consumers in a registry of
their own, and draining the outbox."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict
from sqlalchemy import func, select

from dgov.exchange import events
from dgov.exchange.pubsub_models import deliveries_t
from dgov.kernel.models import outbox_messages
from dgov.kernel.outbox import Dispatcher, Registry, Subscription
from dgov.kernel.uow import Database

ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
NATS_URL = os.environ.get("DGOV_TEST_NATS_URL", "nats://127.0.0.1:4222")


def nats_reachable() -> bool:
    host, _, port = NATS_URL.removeprefix("nats://").partition(":")
    try:
        with socket.create_connection((host, int(port or 4222)), timeout=3):
            return True
    except OSError:
        return False


def require_nats() -> None:
    if nats_reachable():
        return
    if ON_CI:
        pytest.fail(f"NATS is not reachable at {NATS_URL} and CI=true: the event bus tests are mandatory")
    pytest.skip(f"NATS is not reachable at {NATS_URL}")


@dataclass
class Received:
    method: str
    url: str
    headers: CIMultiDict[str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint answering `fail_first` requests with 500 (or every one, `always_fail`)."""

    base: str = ""
    fail_first: int = 0
    always_fail: bool = False
    got: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base}/hooks/events"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.got.append(Received(request.method, str(request.url), CIMultiDict(request.headers), body))
        if self.always_fail or len(self.got) <= self.fail_first:
            return web.Response(status=500, text="receiver down")
        return web.Response(status=204)


def exchange_registry() -> Registry:
    reg = Registry()
    reg.add(Subscription(events.RECORD_CHANGED, "exchange.life-events", events.on_record_changed))
    reg.add(Subscription(events.EVENT_TOPIC, "exchange.webhooks", events.on_event))
    reg.add(Subscription(events.RETRY_TOPIC, "exchange.webhooks.retry", events.on_retry))
    reg.add(Subscription(events.EVENT_TOPIC, "exchange.bus", events.on_event_bus))
    return reg


async def pending_outbox(db: Database) -> int:
    async with db.uow(readonly=True) as uow:
        return int(
            await uow.session.scalar(
                select(func.count()).select_from(outbox_messages).where(outbox_messages.c.status == "pending")
            )
            or 0
        )


async def drain(dispatcher: Dispatcher, *, rounds: int = 20) -> None:
    """Run the dispatcher until nothing is pending (retries fall due at once under `fast_retries`)."""
    for _ in range(rounds):
        await dispatcher.run_once()
        if await pending_outbox(dispatcher.db) == 0:
            return
    raise AssertionError(f"outbox still has pending messages after {rounds} rounds")


async def delivery_rows(db: Database, subscription_id: Any) -> list[Any]:
    async with db.uow(readonly=True) as uow:
        return list(
            (
                await uow.session.execute(
                    select(deliveries_t)
                    .where(deliveries_t.c.subscription_id == subscription_id)
                    .order_by(deliveries_t.c.event_offset)
                )
            ).all()
        )
