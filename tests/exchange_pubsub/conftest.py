"""Fixtures for pub/sub: a real HTTP receiver on a loopback port, an outbox dispatcher wired to the
exchange's consumers only, and the NATS server check (skip locally when it is down, fail on CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from pubsub_support import Receiver, exchange_registry

from dgov.exchange import webhooks
from dgov.kernel.config import Settings
from dgov.kernel.keys import NodeKey
from dgov.kernel.outbox import Dispatcher
from dgov.kernel.uow import Database


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The node's public base URL is the test client's: signatures name it in `@target-uri`."""
    return settings.model_copy(update={"public_url": "http://testserver"})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/events", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.base = f"http://127.0.0.1:{port}"
    yield rec
    await runner.cleanup()


@pytest.fixture
def fast_retries(node_key: NodeKey) -> Iterator[None]:
    """Sign with the test node key; retry at once (no backoff) so a test steps through attempts."""
    previous = webhooks.policy()
    webhooks.configure(
        context=webhooks.NodeContext(node_key=node_key, node="test-node"),
        policy=webhooks.WebhookPolicy(timeout=5.0, backoff_base=0.0, backoff_cap=0.0),
    )
    yield
    webhooks.configure(policy=previous)


@pytest.fixture
def dispatcher(db: Database, fast_retries: None) -> Dispatcher:
    return Dispatcher(db, exchange_registry(), max_attempts=5)
