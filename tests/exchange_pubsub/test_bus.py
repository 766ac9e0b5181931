"""Events through the real NATS JetStream server: published by the outbox consumer, read by a member's
durable consumer, de-duplicated by event id. Each test uses an instance name of its own, so its stream
(and subjects) are its own; the stream is deleted afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from pubsub_support import NATS_URL, drain, require_nats

from dgov.exchange import bus, pubsub
from dgov.identity import Principal
from dgov.kernel import clock
from dgov.kernel.outbox import Dispatcher
from dgov.kernel.uow import Database

OPERATOR = Principal(kind="operator", account_id=uuid.uuid4(), level=2)


@pytest.fixture
def instance() -> Iterator[str]:
    require_nats()
    name = f"T{uuid.uuid4().hex[:10].upper()}"
    bus.configure(NATS_URL, name)
    yield name
    bus.configure(None)


@pytest.fixture
async def event_bus(instance: str) -> AsyncIterator[bus.EventBus]:
    b = bus.EventBus(NATS_URL, instance)
    yield b
    nc = await nats.connect(NATS_URL)
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await nc.jetstream().delete_stream(bus.stream_name(instance))
    await nc.close()
    await b.close()
    current = bus.current()
    if current is not None:
        await current.close()


def born(id_number: str) -> dict[str, str]:
    return {
        "id_number": id_number,
        "full_name": "Lê Thị Hoa",
        "birth_date": "2026-11-01",
        "province_code": "01",
    }


async def test_events_flow_through_jetstream(
    db: Database, dispatcher: Dispatcher, event_bus: bus.EventBus, instance: str
) -> None:
    published = []
    for n in range(3):
        async with db.uow() as uow:
            published.append(
                await pubsub.publish_event(uow, "person.born", born(f"0012260000{n:02d}"), instance=instance)
            )
            await uow.commit()
    await drain(dispatcher)

    member = await event_bus.subscriber("GOV_BHXH_BHYT", event_type="person.born")
    got = await bus.fetch(member, batch=10, wait=2.0)
    assert [r.event["id"] for r in got] == [str(p.id) for p in published]
    assert {r.subject for r in got} == {f"dgov.{instance}.events.person.born"}
    assert (
        got[0].event["data"]["id_number"] == "001226000000"
        and got[0].event["source"] == f"{instance}/GOV/BTP"
    )
    for r in got[:2]:
        await r.ack()

    # The durable consumer keeps its place: a new subscription under the same name gets the unacknowledged
    # third event back (after its ack wait), never the first two.
    again = await event_bus.subscriber("GOV_BHXH_BHYT", event_type="person.born")
    info = await again.consumer_info()
    assert info.ack_floor.stream_seq == 2


async def test_the_same_event_twice_is_stored_once(
    db: Database, dispatcher: Dispatcher, event_bus: bus.EventBus, instance: str
) -> None:
    async with db.uow() as uow:
        ev = await pubsub.publish_event(uow, "person.born", born("001226000099"), instance=instance)
        await uow.commit()
    await drain(dispatcher)
    envelope = pubsub.envelope(
        event_id=ev.id,
        offset=ev.offset,
        type_="person.born",
        source=f"{instance}/GOV/BTP",
        subject=None,
        created_at=clock.now(),
        payload={},
        node="x",
    )
    assert await event_bus.publish(envelope) is False  # an outbox redelivery after a crash: dropped
    js = await event_bus.jetstream()
    info = await js.stream_info(bus.stream_name(instance))
    assert info.state.messages == 1


async def test_without_a_bus_nothing_connects(db: Database, dispatcher: Dispatcher) -> None:
    bus.configure("", "VN")
    try:
        assert bus.current() is None
        async with db.uow() as uow:
            await pubsub.publish_event(uow, "person.born", born("001226000098"))
            await uow.commit()
        await drain(dispatcher)  # the bus consumer settles without connecting anywhere
    finally:
        bus.configure(None)
