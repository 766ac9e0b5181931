"""The transactional outbox, in process, on SQLite and PostgreSQL: delivery, receipts, retries, leases.

Time is a FrozenClock, so backoff and lease expiry are stepped through without sleeping. Every test
uses its own Registry and looks only at the messages it published (the session database may hold
others).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, func, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dgov.kernel import clock, migrate
from dgov.kernel.audit import AuditEntry, CheckpointPolicy
from dgov.kernel.clock import FrozenClock
from dgov.kernel.db import make_engine
from dgov.kernel.keys import NodeKey
from dgov.kernel.models import AuditRecord, OutboxDelivery, OutboxMessage
from dgov.kernel.outbox import Dispatcher, Handler, Message, Registry, backoff
from dgov.kernel.uow import Database, UnitOfWork

T0 = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


class EffectsBase(DeclarativeBase):
    pass


class Effect(EffectsBase):
    """A consumer's side effect, in a table created inside the test's transaction (rolled back with it)."""

    __tablename__ = "test_outbox_effects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    message_id: Mapped[str] = mapped_column(String(36))
    consumer: Mapped[str] = mapped_column(String(50))


effects = Effect.__table__


class WorkerDied(BaseException):
    """Raised by a consumer to stand for the worker process dying mid-delivery: nothing is settled."""


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    fc = FrozenClock(T0)
    previous = clock.set_clock(fc)
    yield fc
    clock.set_clock(previous)


async def make_effects_table(db: Database) -> None:
    async with db.uow() as uow:
        await uow.session.run_sync(lambda s: EffectsBase.metadata.create_all(s.connection()))
        await uow.commit()


async def publish(db: Database, *events: tuple[str, dict[str, object]]) -> list[uuid.UUID]:
    async with db.uow() as uow:
        ids = [uow.publish(topic, payload) for topic, payload in events]
        await uow.commit()
    return ids


async def row(db: Database, msg_id: uuid.UUID) -> OutboxMessage:
    async with db.uow(readonly=True) as uow:
        found = await uow.session.get(OutboxMessage, msg_id)
    assert found is not None
    return found


async def receipts(db: Database, msg_id: uuid.UUID) -> list[str]:
    async with db.uow(readonly=True) as uow:
        q = select(OutboxDelivery.consumer).where(OutboxDelivery.message_id == msg_id)
        return sorted((await uow.session.execute(q)).scalars())


async def effect_rows(db: Database, msg_id: uuid.UUID) -> list[str]:
    async with db.uow(readonly=True) as uow:
        q = select(effects.c.consumer).where(effects.c.message_id == str(msg_id))
        return sorted((await uow.session.execute(q)).scalars())


def dispatcher(db: Database, reg: Registry, **kw: object) -> Dispatcher:
    kw.setdefault("lease", LEASE)
    return Dispatcher(db, reg, **kw)  # type: ignore[arg-type]


# --- delivery ---------------------------------------------------------------------------------------


async def test_publish_returns_the_id_of_the_stored_message(db: Database, frozen: FrozenClock) -> None:
    (msg_id,) = await publish(db, ("person.registered", {"pid": "001"}))
    m = await row(db, msg_id)
    assert (m.topic, m.payload, m.status, m.attempts) == ("person.registered", {"pid": "001"}, "pending", 0)
    assert m.created_at == T0 and m.available_at == T0 and m.locked_until is None


async def test_committed_events_reach_every_matching_consumer_in_order_of_creation(
    db: Database, frozen: FrozenClock
) -> None:
    reg = Registry()
    seen: dict[str, list[uuid.UUID]] = {"people": [], "everything": [], "land": []}

    def recorder(name: str) -> Handler:
        async def handle(uow: UnitOfWork, msg: Message) -> None:
            seen[name].append(msg.id)

        return handle

    reg.subscribe("person.*", "people")(recorder("people"))
    reg.subscribe("*", "everything")(recorder("everything"))
    reg.subscribe("land.*", "land")(recorder("land"))

    # The clock stands still, so all of these share one created_at: ties must still keep their order.
    first = await publish(db, ("person.born", {"n": 1}), ("household.moved", {"n": 2}))
    second = await publish(db, ("person.died", {"n": 3}))
    third = await publish(db, ("person.renamed", {"n": 4}), ("person.born", {"n": 5}))
    ours = [*first, *second, *third]

    # A small batch, so that order must also hold across several claims.
    await dispatcher(db, reg, batch=2).run_once()

    people = [i for i in seen["people"] if i in ours]
    everything = [i for i in seen["everything"] if i in ours]
    assert people == [ours[0], ours[2], ours[3], ours[4]]
    assert everything == ours
    assert not [i for i in seen["land"] if i in ours]
    for i in ours:
        m = await row(db, i)
        assert m.status == "delivered" and m.delivered_at == T0 and m.attempts == 1 and m.locked_until is None
    assert await receipts(db, ours[0]) == ["everything", "people"]
    assert await receipts(db, ours[1]) == ["everything"]


async def test_payload_key_and_metadata_reach_the_consumer(db: Database, frozen: FrozenClock) -> None:
    reg = Registry()
    got: list[Message] = []

    @reg.subscribe("person.registered", "copy")
    async def copy(uow: UnitOfWork, msg: Message) -> None:
        got.append(msg)

    async with db.uow() as uow:
        msg_id = uow.publish("person.registered", {"pid": "079", "name": "Nguyễn Văn A"}, key="079")
        await uow.commit()
    await dispatcher(db, reg).run_once()
    (m,) = [g for g in got if g.id == msg_id]
    assert (m.topic, m.key, m.payload, m.created_at, m.attempts) == (
        "person.registered",
        "079",
        {"pid": "079", "name": "Nguyễn Văn A"},
        T0,
        1,
    )


async def test_events_of_a_rolled_back_unit_of_work_are_never_delivered(
    db: Database, frozen: FrozenClock
) -> None:
    reg = Registry()
    seen: list[dict[str, object]] = []

    @reg.subscribe("person.*", "people")
    async def people(uow: UnitOfWork, msg: Message) -> None:
        seen.append(msg.payload)

    marker = str(uuid.uuid4())
    async with db.uow() as uow:  # left without commit
        uow.publish("person.born", {"marker": marker, "how": "no commit"})
    with pytest.raises(RuntimeError):
        async with db.uow() as uow:
            uow.publish("person.born", {"marker": marker, "how": "exception"})
            raise RuntimeError("use case failed")
    async with db.uow() as uow:
        uow.publish("person.born", {"marker": marker, "how": "explicit rollback"})
        await uow.rollback()
        uow.publish("person.born", {"marker": marker, "how": "after rollback"})
        await uow.commit()

    await dispatcher(db, reg).run_once()
    assert [p["how"] for p in seen if p.get("marker") == marker] == ["after rollback"]
    async with db.uow(readonly=True) as uow:
        n = await uow.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.topic == "person.born")
        )
    assert n == 1


async def test_a_readonly_unit_of_work_cannot_publish(db: Database) -> None:
    async with db.uow(readonly=True) as uow:
        with pytest.raises(RuntimeError):
            uow.publish("person.born", {})


# --- idempotence and transactions ---------------------------------------------------------------------


async def test_a_consumers_side_effects_commit_with_its_receipt(db: Database, frozen: FrozenClock) -> None:
    await make_effects_table(db)
    reg = Registry()

    @reg.subscribe("person.*", "writer")
    async def writer(uow: UnitOfWork, msg: Message) -> None:
        await uow.session.execute(
            insert(Effect).values(id=int(msg.payload["n"]), message_id=str(msg.id), consumer="writer")
        )
        uow.audit(
            AuditEntry(
                actor="system:writer", action="person.indexed", object_type="message", object_id=str(msg.id)
            )
        )

    (msg_id,) = await publish(db, ("person.born", {"n": 1}))
    d = dispatcher(db, reg)
    assert await d.run_once() >= 1
    assert await effect_rows(db, msg_id) == ["writer"]
    assert await receipts(db, msg_id) == ["writer"]
    async with db.uow(readonly=True) as uow:
        audits = (
            (
                await uow.session.execute(
                    select(AuditRecord.action).where(AuditRecord.object_id == str(msg_id))
                )
            )
            .scalars()
            .all()
        )
    assert audits == ["person.indexed"]

    # Running again, or with a second dispatcher, hands nothing to anyone a second time.
    assert await d.run_once() == 0
    assert await dispatcher(db, reg).run_once() == 0
    assert await effect_rows(db, msg_id) == ["writer"]


async def test_a_failing_consumer_leaves_no_side_effects_and_no_receipt(
    db: Database, frozen: FrozenClock
) -> None:
    await make_effects_table(db)
    reg = Registry()

    @reg.subscribe("person.*", "half")
    async def half(uow: UnitOfWork, msg: Message) -> None:
        await uow.session.execute(insert(Effect).values(id=1, message_id=str(msg.id), consumer="half"))
        uow.audit(
            AuditEntry(
                actor="system:half", action="person.half", object_type="message", object_id=str(msg.id)
            )
        )
        await uow.flush()
        raise ValueError("downstream refused")

    (msg_id,) = await publish(db, ("person.born", {}))
    await dispatcher(db, reg).run_once()
    assert await effect_rows(db, msg_id) == []
    assert await receipts(db, msg_id) == []
    async with db.uow(readonly=True) as uow:
        n = await uow.session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.object_id == str(msg_id))
        )
    assert n == 0
    m = await row(db, msg_id)
    assert m.status == "pending" and m.last_error is not None and "downstream refused" in m.last_error


async def test_a_consumer_whose_commit_violates_a_constraint_is_retried_not_marked_delivered(
    db: Database, frozen: FrozenClock
) -> None:
    # The receipt's unique constraint is how a concurrent double delivery is recognised; a consumer's own
    # IntegrityError must not be mistaken for it.
    await make_effects_table(db)
    async with db.uow() as uow:
        await uow.session.execute(insert(Effect).values(id=7, message_id="taken", consumer="earlier"))
        await uow.commit()
    reg = Registry()

    @reg.subscribe("person.*", "clash")
    async def clash(uow: UnitOfWork, msg: Message) -> None:
        # Added, not executed: the duplicate key surfaces only when the commit flushes it.
        uow.session.add(Effect(id=7, message_id=str(msg.id), consumer="clash"))

    (msg_id,) = await publish(db, ("person.born", {}))
    assert await dispatcher(db, reg).run_once() == 0
    m = await row(db, msg_id)
    assert m.status == "pending" and m.attempts == 1
    assert m.last_error is not None and "clash" in m.last_error
    assert await receipts(db, msg_id) == []


# --- retries, backoff, dead letters -------------------------------------------------------------------


async def test_a_failing_consumer_is_retried_with_backoff_without_repeating_the_others(
    db: Database, frozen: FrozenClock
) -> None:
    reg = Registry()
    calls: dict[str, int] = {"good": 0, "flaky": 0}
    fail_times = 2

    @reg.subscribe("person.*", "good")
    async def good(uow: UnitOfWork, msg: Message) -> None:
        calls["good"] += 1

    @reg.subscribe("person.*", "flaky")
    async def flaky(uow: UnitOfWork, msg: Message) -> None:
        calls["flaky"] += 1
        if calls["flaky"] <= fail_times:
            raise ConnectionError(f"smtp down #{calls['flaky']}")

    (msg_id,) = await publish(db, ("person.born", {}))
    d = dispatcher(db, reg, max_attempts=5)

    assert await d.run_once() == 0
    m = await row(db, msg_id)
    assert calls == {"good": 1, "flaky": 1}
    assert m.status == "pending" and m.attempts == 1 and m.locked_until is None
    assert m.last_error is not None and "flaky" in m.last_error and "smtp down #1" in m.last_error
    assert T0 + timedelta(seconds=0.5) <= m.available_at <= T0 + timedelta(seconds=1)
    assert await receipts(db, msg_id) == ["good"]

    # Not due yet: nothing happens, however often the dispatcher runs.
    frozen.set(m.available_at - timedelta(microseconds=1))
    assert await d.run_once() == 0
    assert calls == {"good": 1, "flaky": 1}

    frozen.set(m.available_at)
    second_try = m.available_at
    assert await d.run_once() == 0
    m = await row(db, msg_id)
    assert calls == {"good": 1, "flaky": 2}
    assert m.attempts == 2 and m.last_error is not None and "smtp down #2" in m.last_error
    assert second_try + timedelta(seconds=1) <= m.available_at <= second_try + timedelta(seconds=2)

    frozen.set(m.available_at)
    assert await d.run_once() == 1
    m = await row(db, msg_id)
    assert calls == {"good": 1, "flaky": 3}
    assert m.status == "delivered" and m.attempts == 3 and m.delivered_at == frozen.now()
    assert await receipts(db, msg_id) == ["flaky", "good"]


async def test_after_max_attempts_the_message_is_dead_with_its_last_error(
    db: Database, frozen: FrozenClock
) -> None:
    reg = Registry()
    calls = 0

    @reg.subscribe("person.*", "broken")
    async def broken(uow: UnitOfWork, msg: Message) -> None:
        nonlocal calls
        calls += 1
        raise KeyError(f"attempt {calls}")

    (msg_id,) = await publish(db, ("person.born", {}))
    d = dispatcher(db, reg, max_attempts=3)
    for attempt in (1, 2, 3):
        await d.run_once()
        m = await row(db, msg_id)
        assert m.attempts == attempt
        frozen.advance(timedelta(hours=2))  # past any backoff
    assert calls == 3
    assert m.status == "dead" and m.locked_until is None and m.delivered_at is None
    assert m.last_error is not None and "broken" in m.last_error and "attempt 3" in m.last_error

    # A dead message stays parked.
    frozen.advance(timedelta(days=30))
    await d.run_once()
    assert calls == 3
    assert (await row(db, msg_id)).status == "dead"


async def test_a_very_long_error_is_truncated(db: Database, frozen: FrozenClock) -> None:
    reg = Registry()

    @reg.subscribe("person.*", "verbose")
    async def verbose(uow: UnitOfWork, msg: Message) -> None:
        raise RuntimeError("x" * 10_000)

    (msg_id,) = await publish(db, ("person.born", {}))
    await dispatcher(db, reg, max_attempts=1).run_once()
    m = await row(db, msg_id)
    assert m.status == "dead" and m.last_error is not None and 100 < len(m.last_error) <= 2000


@pytest.mark.parametrize("attempts", [0, 1, 2, 3, 5, 8, 12, 13, 40, 5000])
def test_backoff_doubles_within_jitter_and_is_capped(attempts: int) -> None:
    ceiling = min(3600.0, 2.0 ** max(attempts - 1, 0)) if attempts < 64 else 3600.0
    for _ in range(200):
        s = backoff(attempts).total_seconds()
        assert ceiling / 2 <= s <= ceiling


def test_backoff_honours_base_and_cap() -> None:
    for _ in range(200):
        assert 5 <= backoff(2, base=5).total_seconds() <= 10
        assert 30 <= backoff(20, base=5, cap=60).total_seconds() <= 60
        assert 30 <= backoff(10**6, cap=60).total_seconds() <= 60


# --- leases: dead workers ----------------------------------------------------------------------------


async def test_a_message_whose_worker_died_is_claimed_again_when_its_lease_expires(
    db: Database, frozen: FrozenClock
) -> None:
    reg = Registry()
    calls: list[int] = []

    @reg.subscribe("person.*", "mortal")
    async def mortal(uow: UnitOfWork, msg: Message) -> None:
        calls.append(msg.attempts)
        if len(calls) == 1:
            raise WorkerDied

    (msg_id,) = await publish(db, ("person.born", {}))
    d = dispatcher(db, reg)
    with pytest.raises(WorkerDied):
        await d.run_once()
    m = await row(db, msg_id)
    assert m.status == "pending" and m.attempts == 1 and m.locked_until == T0 + LEASE
    assert await receipts(db, msg_id) == []

    # While the lease holds, no other worker touches the message.
    frozen.set(T0 + LEASE - timedelta(microseconds=1))
    assert await dispatcher(db, reg).run_once() == 0
    assert calls == [1]

    frozen.set(T0 + LEASE + timedelta(microseconds=1))
    assert await dispatcher(db, reg).run_once() == 1
    assert calls == [1, 2]
    m = await row(db, msg_id)
    assert m.status == "delivered" and m.attempts == 2 and m.locked_until is None
    assert await receipts(db, msg_id) == ["mortal"]


async def test_a_message_that_keeps_killing_its_workers_is_parked_dead(
    db: Database, frozen: FrozenClock
) -> None:
    reg = Registry()
    calls = 0

    @reg.subscribe("person.*", "poison")
    async def poison(uow: UnitOfWork, msg: Message) -> None:
        nonlocal calls
        calls += 1
        raise WorkerDied

    (msg_id,) = await publish(db, ("person.born", {}))
    for _ in range(2):
        with pytest.raises(WorkerDied):
            await dispatcher(db, reg, max_attempts=2).run_once()
        frozen.advance(LEASE + timedelta(seconds=1))
    assert await dispatcher(db, reg, max_attempts=2).run_once() == 0
    assert calls == 2
    m = await row(db, msg_id)
    assert m.status == "dead" and m.attempts == 2 and m.locked_until is None
    assert m.last_error is not None and "lease" in m.last_error


async def test_parking_a_whole_batch_of_dead_messages_does_not_stop_the_run(
    db: Database, frozen: FrozenClock
) -> None:
    reg = Registry()
    handed: list[str] = []

    @reg.subscribe("person.*", "picky")
    async def picky(uow: UnitOfWork, msg: Message) -> None:
        handed.append(msg.topic)
        if msg.topic == "person.poison":
            raise WorkerDied

    poison = await publish(db, *[("person.poison", {"n": n}) for n in range(3)])
    for _ in poison:  # each run dies on the first poison message it is handed
        with pytest.raises(WorkerDied):
            await dispatcher(db, reg, max_attempts=1, batch=1).run_once()
    frozen.advance(LEASE + timedelta(seconds=1))
    (healthy,) = await publish(db, ("person.healthy", {}))

    # All three poison messages fill the first batch of two and the next: the healthy one still goes.
    assert await dispatcher(db, reg, max_attempts=1, batch=2).run_once() >= 1
    assert handed.count("person.healthy") == 1
    assert (await row(db, healthy)).status == "delivered"
    assert [(await row(db, p)).status for p in poison] == ["dead"] * 3


async def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_owners_outcome(
    db: Database, frozen: FrozenClock
) -> None:
    reg = Registry()
    started = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    @reg.subscribe("person.*", "slow")
    async def slow(uow: UnitOfWork, msg: Message) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # the first worker hangs past its lease, then fails
            started.set()
            await asyncio.wait_for(release.wait(), timeout=30)
            raise TimeoutError("gave up late")

    (msg_id,) = await publish(db, ("person.born", {}))
    first = asyncio.create_task(dispatcher(db, reg).run_once())
    await asyncio.wait_for(started.wait(), timeout=30)

    frozen.advance(LEASE + timedelta(seconds=1))
    assert await dispatcher(db, reg).run_once() == 1  # a second worker takes over and delivers
    release.set()
    assert await asyncio.wait_for(first, timeout=30) == 0

    m = await row(db, msg_id)
    assert m.status == "delivered" and m.attempts == 2 and m.last_error is None and m.locked_until is None
    assert await receipts(db, msg_id) == ["slow"]


# --- the registry and the loop --------------------------------------------------------------------------


def test_registry_matches_fnmatch_patterns_and_rejects_duplicate_consumers() -> None:
    reg = Registry()

    async def a(uow: UnitOfWork, msg: Message) -> None: ...

    async def b(uow: UnitOfWork, msg: Message) -> None: ...

    reg.subscribe("person.*", "a")(a)
    reg.subscribe("person.born", "b")(b)
    assert [s.consumer for s in reg.for_topic("person.born")] == ["a", "b"]
    assert [s.consumer for s in reg.for_topic("person.died")] == ["a"]
    assert reg.for_topic("personal.data") == []
    assert reg.for_topic("Person.born") == []  # topics are case-sensitive
    reg.subscribe("person.*", "a")(a)  # re-registering the same handler (a re-import) is harmless
    with pytest.raises(ValueError, match="already registered"):
        reg.subscribe("*", "a")(b)
    reg.remove("a")
    assert [s.consumer for s in reg.for_topic("person.died")] == []


@pytest.fixture
def file_db(tmp_path: Path, node_key: NodeKey) -> Iterator[Database]:
    """A real SQLite file with its own connections, for a loop that runs beside the test's own writes."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'loop.sqlite3'}"
    migrate.upgrade(url)
    yield Database.from_engine(make_engine(url), CheckpointPolicy(key=node_key, node="test-node", every=5))


async def test_run_forever_delivers_when_woken_by_a_commit_and_stops(file_db: Database) -> None:
    db = file_db
    reg = Registry()
    got: list[uuid.UUID] = []
    arrived = asyncio.Event()

    @reg.subscribe("person.*", "waiter")
    async def waiter(uow: UnitOfWork, msg: Message) -> None:
        got.append(msg.id)
        arrived.set()

    # A poll interval far longer than the test's bounded waits: only a commit's wake-up can deliver.
    d = Dispatcher(db, reg, poll_seconds=3600)
    db.after_commit.append(d.wake)
    stop = asyncio.Event()
    loop = asyncio.create_task(d.run_forever(stop))
    try:
        for n in range(3):
            arrived.clear()
            (msg_id,) = await publish(db, ("person.born", {"n": n}))
            await asyncio.wait_for(arrived.wait(), timeout=30)
            assert got[-1] == msg_id
        stop.set()
        await asyncio.wait_for(loop, timeout=30)
    finally:
        stop.set()
        if not loop.done():
            loop.cancel()
        assert db.engine is not None
        await db.engine.dispose()
    assert len(got) == 3
