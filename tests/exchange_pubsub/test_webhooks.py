"""Events, subscriptions and signed webhook deliveries against a real HTTP receiver on loopback, on SQLite
and PostgreSQL: signature checked by an independent RFC 9421 implementation, filters, retries with a
delivery log, dead letters, redelivery and replay from an offset."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from http_message_signatures import HTTPMessageVerifier, algorithms
from http_message_signatures.resolvers import MappingKeyResolver
from http_message_signatures.structures import CaseInsensitiveDict
from pubsub_support import Receiver, delivery_rows, drain
from sqlalchemy import func, select

from dgov.exchange import pubsub, webhooks
from dgov.exchange import pubsub_subscriptions as subscriptions
from dgov.exchange.httpsig import SignatureError
from dgov.exchange.pubsub_models import events_t
from dgov.identity import SYSTEM, Principal
from dgov.kernel.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from dgov.kernel.keys import NodeKey
from dgov.kernel.outbox import Dispatcher
from dgov.kernel.uow import Database

OPERATOR = Principal(kind="operator", account_id=uuid.uuid4(), level=2)
KHANG = "001216012345"


def born(id_number: str = KHANG, province: str = "01") -> dict[str, Any]:
    return {
        "id_number": id_number,
        "full_name": "Nguyễn Minh Khang",
        "birth_date": "2016-05-12",
        "sex": "M",
        "province_code": province,
        "commune_code": "00004" if province == "01" else "26734",
    }


async def subscribe(db: Database, url: str, **kw: Any) -> subscriptions.SubscriptionView:
    return await subscriptions.add_subscription(
        db,
        OPERATOR,
        member=kw.pop("member", "GOV/BHXH"),
        subsystem=kw.pop("subsystem", "BHYT"),
        event_type=kw.pop("event_type", "person.born"),
        url=url,
        **kw,
    )


async def publish(
    db: Database, payload: dict[str, Any], event_type: str = "person.born"
) -> pubsub.PublishedEvent:
    async with db.uow() as uow:
        ev = await pubsub.publish_event(uow, event_type, payload, subject_id=payload.get("id_number"))
        await uow.commit()
    return ev


def independent_verify(got: Any, node_key: NodeKey) -> None:
    """Verify a received POST with the http-message-signatures package, not dgov's own code."""

    class Req:
        method = got.method
        url = got.url
        headers = CaseInsensitiveDict(got.headers)

    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={node_key.key_id: node_key.public_key}, private_keys={}),
    )
    results = verifier.verify(Req(), body=got.body, max_age=None)
    assert len(results) == 1
    [result] = results
    assert set(result.covered_components) >= {
        '"@method"',
        '"@target-uri"',
        '"content-digest"',
        '"dgov-event-id"',
    }
    assert result.covered_components['"dgov-event-id"'] == got.headers["Dgov-Event-Id"]
    assert result.parameters["keyid"] == node_key.key_id and result.nonce
    assert result.body == got.body  # the library checked the body against the signed Content-Digest


async def test_an_event_reaches_its_subscriber_signed(
    db: Database, dispatcher: Dispatcher, receiver: Receiver, node_key: NodeKey
) -> None:
    sub = await subscribe(db, receiver.url)
    ev = await publish(db, born())
    await drain(dispatcher)

    assert len(receiver.got) == 1
    got = receiver.got[0]
    body = json.loads(got.body)
    assert body["id"] == str(ev.id) and body["type"] == "person.born" and body["specversion"] == "1.0"
    assert body["dgovoffset"] == ev.offset and body["data"]["id_number"] == KHANG
    assert body["source"] == "VN/GOV/BTP"
    assert got.headers["Dgov-Event-Id"] == str(ev.id)
    assert got.headers["Content-Type"] == "application/cloudevents+json"
    independent_verify(got, node_key)
    assert webhooks.verify_delivery(
        url=got.url, headers=got.headers, body=got.body, node_public_pem=node_key.public_pem()
    ) == str(ev.id)

    rows = await delivery_rows(db, sub.id)
    assert [(r.status, r.attempts, r.last_status) for r in rows] == [("delivered", 1, 204)]
    log = await subscriptions.delivery_attempts(db, OPERATOR, rows[0].id)
    assert [(a.attempt, a.status_code, a.outcome) for a in log] == [(1, 204, "delivered")]
    assert log[0].duration_ms >= 0


async def test_a_tampered_body_fails_verification(
    db: Database, dispatcher: Dispatcher, receiver: Receiver, node_key: NodeKey
) -> None:
    await subscribe(db, receiver.url)
    await publish(db, born())
    await drain(dispatcher)
    got = receiver.got[0]

    with pytest.raises(SignatureError):
        webhooks.verify_delivery(
            url=got.url,
            headers=got.headers,
            body=got.body.replace(b"Khang", b"Kha"),
            node_public_pem=node_key.public_pem(),
        )
    with pytest.raises(SignatureError):
        webhooks.verify_delivery(
            url=got.url.replace("/hooks/", "/other/"),
            headers=got.headers,
            body=got.body,
            node_public_pem=node_key.public_pem(),
        )


async def test_filters_choose_the_events(db: Database, dispatcher: Dispatcher, receiver: Receiver) -> None:
    hanoi = await subscribe(db, receiver.url, filters={"province_code": "01"})
    await publish(db, born("001216000001", "01"))
    await publish(db, born("079216000002", "79"))
    await drain(dispatcher)
    assert [json.loads(g.body)["data"]["id_number"] for g in receiver.got] == ["001216000001"]
    assert len(await delivery_rows(db, hanoi.id)) == 1


async def test_a_receiver_failing_twice_gets_it_on_the_third_attempt(
    db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    sub = await subscribe(db, receiver.url)
    ev = await publish(db, born())
    await drain(dispatcher)

    assert [json.loads(g.body)["id"] for g in receiver.got] == [str(ev.id)] * 3
    [row] = await delivery_rows(db, sub.id)
    assert (row.status, row.attempts, row.last_status, row.last_error) == ("delivered", 3, 204, None)
    log = await subscriptions.delivery_attempts(db, OPERATOR, row.id)
    assert [(a.attempt, a.status_code, a.outcome) for a in log] == [
        (1, 500, "retry"),
        (2, 500, "retry"),
        (3, 204, "delivered"),
    ]
    assert "HTTP 500" in (log[0].error or "")


async def test_a_receiver_always_failing_makes_a_dead_letter_then_redelivery_works(
    db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    receiver.always_fail = True
    sub = await subscribe(db, receiver.url, max_attempts=3)
    await publish(db, born())
    await drain(dispatcher)

    assert len(receiver.got) == 3
    [row] = await delivery_rows(db, sub.id)
    assert (row.status, row.attempts, row.last_status) == ("dead", 3, 500)
    dead = await subscriptions.list_deliveries(db, OPERATOR, status="dead", subscription_id=sub.id)
    assert [d.id for d in dead] == [row.id]

    receiver.always_fail = False
    await subscriptions.redeliver(db, OPERATOR, row.id)
    await drain(dispatcher)
    assert len(receiver.got) == 4
    [row] = await delivery_rows(db, sub.id)
    assert (row.status, row.attempts) == ("delivered", 4)
    log = await subscriptions.delivery_attempts(db, OPERATOR, row.id)
    assert [a.outcome for a in log] == ["retry", "retry", "dead", "delivered"]


async def test_an_unreachable_receiver_is_logged_as_an_error(db: Database, dispatcher: Dispatcher) -> None:
    sub = await subscribe(db, "http://127.0.0.1:9/hooks", max_attempts=2)  # discard port: refused
    await publish(db, born())
    await drain(dispatcher)
    [row] = await delivery_rows(db, sub.id)
    assert row.status == "dead" and row.last_status is None
    log = await subscriptions.delivery_attempts(db, OPERATOR, row.id)
    assert [a.outcome for a in log] == ["retry", "dead"]
    assert all(a.status_code is None and "Connect" in (a.error or "") for a in log)


async def test_replay_from_an_offset(db: Database, dispatcher: Dispatcher, receiver: Receiver) -> None:
    first = await publish(db, born("001216000011"))  # before the subscription: not delivered live
    sub = await subscribe(db, receiver.url)
    second = await publish(db, born("001216000012"))
    third = await publish(db, born("001216000013"))
    await drain(dispatcher)
    assert [json.loads(g.body)["id"] for g in receiver.got] == [str(second.id), str(third.id)]

    receiver.got.clear()
    assert await subscriptions.replay(db, OPERATOR, sub.id, from_offset=second.offset) == 2
    await drain(dispatcher)
    assert [json.loads(g.body)["dgovoffset"] for g in receiver.got] == [second.offset, third.offset]

    receiver.got.clear()
    assert await subscriptions.replay(db, OPERATOR, sub.id, from_offset=first.offset) == 3
    await drain(dispatcher)
    assert [json.loads(g.body)["id"] for g in receiver.got] == [str(first.id), str(second.id), str(third.id)]
    rows = await delivery_rows(db, sub.id)
    assert [(r.event_offset, r.status) for r in rows] == [
        (first.offset, "delivered"),
        (second.offset, "delivered"),
        (third.offset, "delivered"),
    ]


async def test_bad_payloads_and_types_change_nothing(db: Database, receiver: Receiver) -> None:
    await subscribe(db, receiver.url)
    async with db.uow(readonly=True) as uow:
        before = await uow.session.scalar(select(func.count()).select_from(events_t))
    bad = born()
    bad["id_number"] = "12345"
    del bad["birth_date"]
    with pytest.raises(ValidationFailed) as exc:
        await publish(db, bad)
    locs = {e.loc for e in exc.value.errors}
    assert ("payload", "id_number") in locs and ("payload",) in locs
    with pytest.raises(NotFound):
        await publish(db, born(), event_type="person.teleported")
    async with db.uow(readonly=True) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(events_t)) == before


async def test_subscription_input_is_checked(db: Database) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await subscriptions.add_subscription(
            db,
            OPERATOR,
            member="BHXH",
            subsystem="bad code",
            event_type="person.flew",
            url="ftp://x",
            filters={"planet": "mars"},
        )
    assert {e.loc[0] for e in exc.value.errors} == {"member", "subsystem", "url", "event_type"}
    with pytest.raises(ValidationFailed) as exc:
        await subscriptions.add_subscription(
            db,
            OPERATOR,
            member="GOV/BHXH",
            subsystem="BHYT",
            event_type="person.born",
            url="http://127.0.0.1:1/x",
            filters={"planet": "mars"},
        )
    assert [e.loc for e in exc.value.errors] == [("filters", "planet")]


async def test_who_may_manage_subscriptions(db: Database, receiver: Receiver) -> None:
    bhxh_app = Principal(kind="client", client_id="VN/GOV/BHXH/BHYT")
    other = Principal(kind="client", client_id="VN/GOV/BCA/CUTRU")
    own = await subscriptions.add_subscription(
        db, bhxh_app, member="GOV/BHXH", subsystem="BHYT", event_type="person.died", url=receiver.url
    )
    with pytest.raises(Forbidden):
        await subscriptions.add_subscription(
            db, other, member="GOV/BHXH", subsystem="BHYT", event_type="person.died", url=receiver.url
        )
    with pytest.raises(Forbidden):
        await subscriptions.list_subscriptions(db, bhxh_app)  # every member's: operators only
    assert [s.id for s in await subscriptions.list_subscriptions(db, bhxh_app, member="GOV/BHXH")] == [own.id]
    with pytest.raises(Forbidden):
        await subscriptions.replay(db, other, own.id, from_offset=0)
    with pytest.raises(Unauthenticated):
        await subscriptions.list_subscriptions(db, Principal(kind="anonymous"))
    await subscriptions.disable_subscription(db, bhxh_app, own.id)
    assert (await subscriptions.get_subscription(db, SYSTEM, own.id)).status == "disabled"


async def test_disabled_subscriptions_get_nothing(
    db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    sub = await subscribe(db, receiver.url)
    await subscriptions.disable_subscription(db, OPERATOR, sub.id)
    await publish(db, born())
    await drain(dispatcher)
    assert receiver.got == [] and await delivery_rows(db, sub.id) == []
