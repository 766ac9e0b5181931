"""The operator's events page: subscribe a member through the form (CSRF, field errors), see deliveries and
dead letters, redeliver one and read its delivery log, replay from an offset."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from httpx import AsyncClient
from pubsub_support import Receiver, drain

from dgov.exchange import pubsub
from dgov.exchange import pubsub_subscriptions as subscriptions
from dgov.identity import SYSTEM, sessions
from dgov.identity import service as identity_service
from dgov.identity.context import IdentityContext
from dgov.kernel import clock
from dgov.kernel.outbox import Dispatcher
from dgov.web import middleware
from dgov.web.runtime import Runtime

TOTP_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PASSWORD = "canbo-demo-2026!"
PAGE = "/operator/exchange/events"


@pytest.fixture
async def operator(runtime: Runtime) -> IdentityContext:
    ctx = IdentityContext(db=runtime.db, secret="test-secret", issuer="http://testserver")
    runtime.extras["identity"] = ctx
    await identity_service.add_official(
        ctx,
        SYSTEM,
        username="quantri",
        agency="DGOV",
        role="operator",
        unit="*",
        password=PASSWORD,
        full_name="Lê Quản Trị",
        totp_secret=TOTP_SEED,
    )
    return ctx


async def post(client: AsyncClient, path: str, data: dict[str, Any]) -> Any:
    if "csrftoken" not in client.cookies:
        await client.get("/login")
    return await client.post(path, data={**data, "csrftoken": client.cookies["csrftoken"]})


async def login(client: AsyncClient, *, second_factor: bool = True) -> None:
    r = await post(client, "/login", {"username": "quantri", "password": PASSWORD})
    assert r.status_code == 303, r.text
    if second_factor:
        code = pyotp.TOTP(TOTP_SEED).at(clock.now())
        r = await post(client, "/login/second-factor", {"code": code, "next": "/"})
        assert r.status_code == 303, r.text


async def test_the_operator_subscribes_a_member_and_handles_a_dead_letter(
    client: AsyncClient,
    runtime: Runtime,
    operator: IdentityContext,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    assert (await client.get(PAGE)).status_code == 303  # to the login page
    await login(client)
    r = await client.get(PAGE)
    assert r.status_code == 200 and "person.born" in r.text

    bad = await post(
        client,
        PAGE,
        {
            "member": "BHXH",
            "subsystem": "BHYT",
            "event_type": "person.born",
            "url": "nope",
            "filters": "planet=mars",
            "max_attempts": "2",
        },
    )
    assert bad.status_code == 422
    assert 'href="#member"' in bad.text and 'href="#url"' in bad.text and 'href="#filters"' in bad.text

    receiver.always_fail = True
    ok = await post(
        client,
        PAGE,
        {
            "member": "GOV/BHXH",
            "subsystem": "BHYT",
            "event_type": "person.born",
            "url": receiver.url,
            "filters": "province_code=01",
            "max_attempts": "2",
        },
    )
    assert ok.status_code == 200 and "GOV/BHXH/BHYT" in ok.text
    async with runtime.db.uow() as uow:
        ev = await pubsub.publish_event(
            uow,
            "person.born",
            {
                "id_number": "001226000777",
                "full_name": "Đỗ Văn Nam",
                "birth_date": "2026-11-03",
                "province_code": "01",
            },
        )
        await uow.commit()
    await drain(dispatcher)

    r = await client.get(PAGE)
    dead = re.search(r"/operator/exchange/events/deliveries/([0-9a-f-]{36})/redeliver", r.text)
    assert dead is not None, "the dead letter is listed with a redeliver button"
    receiver.always_fail = False
    r = await post(client, f"{PAGE}/deliveries/{dead.group(1)}/redeliver", {})
    assert r.status_code == 303
    await drain(dispatcher)
    log = await client.get(r.headers["location"])
    assert "retry" in log.text and "dead" in log.text and "delivered" in log.text  # the delivery log

    [sub] = await subscriptions.list_subscriptions(runtime.db, SYSTEM)
    r = await post(client, f"{PAGE}/{sub.id}/replay", {"from_offset": str(ev.offset)})
    assert r.status_code == 200
    await drain(dispatcher)
    assert len(receiver.got) == 4  # 2 failed, the redelivery, the replay

    r = await post(client, f"{PAGE}/{sub.id}/replay", {"from_offset": "-3"})
    assert r.status_code == 422 and 'href="#from_offset"' in r.text


async def test_a_form_without_its_csrf_token_is_refused(
    client: AsyncClient, operator: IdentityContext
) -> None:
    await login(client)
    r = await client.post(PAGE, data={"member": "GOV/BHXH"})
    assert r.status_code == 403


async def test_the_page_needs_the_second_factor(client: AsyncClient, operator: IdentityContext) -> None:
    await login(client, second_factor=False)
    r = await client.get(PAGE)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?")
    assert "level=2" in r.headers["location"]


async def test_a_bearer_header_does_not_excuse_a_cookie_form_from_csrf(
    client: AsyncClient, runtime: Runtime, operator: IdentityContext, receiver: Receiver
) -> None:
    """A cross-site form rides the operator's session cookie and adds a bogus `Authorization: Bearer`
    header: the session cookie makes it a CSRF-checked request all the same (403), and nothing is made."""

    assert middleware.SESSION_COOKIE == sessions.COOKIE
    await login(client)
    form = {
        "member": "GOV/BHXH",
        "subsystem": "BHYT",
        "event_type": "person.born",
        "url": receiver.url,
        "max_attempts": "2",
    }
    before = await subscriptions.list_subscriptions(runtime.db, SYSTEM)
    r = await client.post(PAGE, data=form, headers={"Authorization": "Bearer x"})
    assert r.status_code == 403, r.text
    assert await subscriptions.list_subscriptions(runtime.db, SYSTEM) == before

    # The same form with its token goes through (the refusal was the missing token, nothing else).
    ok = await post(client, PAGE, form)
    assert ok.status_code == 200
    assert len(await subscriptions.list_subscriptions(runtime.db, SYSTEM)) == len(before) + 1
