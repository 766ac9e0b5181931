"""Fixtures for pub/sub: a real HTTP receiver on a loopback port, an outbox dispatcher wired to the
exchange's consumers only, and the NATS server check (skip locally when it is down, fail on CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from pubsub_support import Receiver, exchange_registry

from dgov.exchange import webhook_urls, webhooks
from dgov.kernel.config import Settings
from dgov.kernel.keys import NodeKey
from dgov.kernel.outbox import Dispatcher
from dgov.kernel.uow import Database

LOOPBACK = "127.0.0.1"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The node's public base URL is the test client's: signatures name it in `@target-uri`."""
    return settings.model_copy(
        update={
            "public_url": "http://testserver",
            # The receiver below is plain http on loopback: allowed by name, as a deployment would.
            "exchange_webhook_allow_http": True,
            "exchange_webhook_allow": LOOPBACK,
        }
    )


@pytest.fixture(autouse=True)
def webhook_url_policy(settings: Settings) -> Iterator[webhook_urls.UrlPolicy]:
    """Deliveries (and use cases called without a node's settings) follow the same policy."""
    rules = webhook_urls.UrlPolicy.from_settings(settings)
    webhook_urls.configure(rules)
    yield rules
    webhook_urls.configure(None)


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
