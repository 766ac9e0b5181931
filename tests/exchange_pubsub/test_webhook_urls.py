"""Webhook URLs cannot reach inside the network (SSRF): https only (http by setting), no loopback,
private, link-local, multicast or reserved address unless the allow-list names it; checked when a
subscription is made and again at every delivery. The loopback receiver is allowed by the allow-list."""

from __future__ import annotations

import dataclasses
import ipaddress
import uuid

import pytest
from pubsub_support import Receiver, delivery_rows, drain
from sqlalchemy import func, select
from test_webhooks import born, publish, subscribe

from dgov.exchange import webhook_urls
from dgov.exchange.pubsub_models import attempts_t, subscriptions_t
from dgov.kernel.errors import ValidationFailed
from dgov.kernel.outbox import Dispatcher
from dgov.kernel.uow import Database

STRICT = webhook_urls.UrlPolicy()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://10.1.2.3/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://224.0.0.1/hook",
        "https://0.0.0.0/hook",
        "https://240.0.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fe80::1]/hook",
        "https://100.64.0.1/hook",
    ],
)
async def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(webhook_urls.WebhookUrlRefused) as refused:
        await webhook_urls.check(url, STRICT)
    assert refused.value.reason == "internal-address"


async def test_http_needs_the_setting_and_the_allow_list_names_what_may_be_internal() -> None:
    with pytest.raises(webhook_urls.WebhookUrlRefused) as refused:
        await webhook_urls.check("http://8.8.8.8/hook", STRICT)
    assert refused.value.reason == "http"
    assert (await webhook_urls.check("https://8.8.8.8/hook", STRICT)).address is not None  # public: fine
    assert (await webhook_urls.check("http://8.8.8.8/hook", webhook_urls.UrlPolicy(allow_http=True))).url
    by_network = webhook_urls.UrlPolicy(allow=("10.1.0.0/16",))
    assert str((await webhook_urls.check("https://10.1.2.3/hook", by_network)).address) == "10.1.2.3"
    with pytest.raises(webhook_urls.WebhookUrlRefused):
        await webhook_urls.check("https://10.2.0.1/hook", by_network)
    by_name = webhook_urls.UrlPolicy(allow=("localhost",))
    assert (await webhook_urls.check("https://localhost/hook", by_name)).address is None
    own = webhook_urls.UrlPolicy(own_receiver="http://127.0.0.1:8000/api/exchange/v1/webhook-test")
    assert await webhook_urls.check("http://127.0.0.1:8000/api/exchange/v1/webhook-test", own)
    with pytest.raises(webhook_urls.WebhookUrlRefused):
        await webhook_urls.check("http://127.0.0.1:8000/api/exchange/v1/other", own)


async def count_subscriptions(db: Database) -> int:
    async with db.uow(readonly=True) as uow:
        return int(
            (await uow.session.execute(select(func.count()).select_from(subscriptions_t))).scalar_one()
        )


async def test_a_subscription_to_an_internal_address_is_refused_and_nothing_is_kept(db: Database) -> None:
    before = await count_subscriptions(db)
    for url in ("https://169.254.169.254/latest/meta-data", "http://127.0.0.2:6379/"):
        with pytest.raises(ValidationFailed) as refused:
            await subscribe(db, url)
        assert [e.loc for e in refused.value.errors] == [("url",)]
    with pytest.raises(ValidationFailed):  # the receiver's own address, but with a strict policy
        await subscribe(db, "http://127.0.0.1:9/hook", url_policy=STRICT)
    assert await count_subscriptions(db) == before


async def test_the_address_is_checked_again_at_delivery(
    db: Database,
    dispatcher: Dispatcher,
    receiver: Receiver,
    webhook_url_policy: webhook_urls.UrlPolicy,
) -> None:
    """Allowed when subscribed; by delivery time the allow-list no longer names the address (as when a
    name starts resolving to an internal address): no request is made, the attempt records why."""
    sub = await subscribe(db, receiver.url)
    webhook_urls.configure(dataclasses.replace(webhook_url_policy, allow=()))
    await publish(db, born())
    await drain(dispatcher)

    assert receiver.got == []
    [row] = await delivery_rows(db, sub.id)
    # Retried at once here (fast retries) and parked as a dead letter: never a request.
    assert row.status == "dead" and row.last_status is None
    assert row.last_error.startswith("refused (internal-address)")
    async with db.uow(readonly=True) as uow:
        outcomes = (
            await uow.session.execute(
                select(attempts_t.c.outcome, attempts_t.c.error)
                .where(attempts_t.c.delivery_id == row.id)
                .order_by(attempts_t.c.attempt)
            )
        ).all()
    assert [o.outcome for o in outcomes] == ["retry"] * (row.attempts - 1) + ["dead"]
    assert all(o.error.startswith("refused (internal-address)") for o in outcomes)
    assert isinstance(sub.id, uuid.UUID)


def test_a_delivery_goes_to_the_checked_address_under_its_name() -> None:
    checked = webhook_urls.Checked(
        "https://hooks.example.org:8443/in?x=1", "hooks.example.org", ipaddress.ip_address("203.0.113.7")
    )
    assert webhook_urls.pinned(checked) == (
        "https://203.0.113.7:8443/in?x=1",
        {"host": "hooks.example.org:8443"},
        {"sni_hostname": "hooks.example.org"},
    )


async def test_a_delivery_allowed_by_network_reaches_the_receiver_at_the_checked_address(
    db: Database,
    dispatcher: Dispatcher,
    receiver: Receiver,
    webhook_url_policy: webhook_urls.UrlPolicy,
) -> None:
    webhook_urls.configure(dataclasses.replace(webhook_url_policy, allow=("127.0.0.0/8",)))
    sub = await subscribe(db, receiver.url)
    await publish(db, born())
    await drain(dispatcher)
    [got] = receiver.got
    assert got.headers["Host"] == receiver.base.removeprefix("http://")
    [row] = await delivery_rows(db, sub.id)
    assert (row.status, row.last_status) == ("delivered", 204)
