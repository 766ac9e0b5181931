"""The unit of work on SQLite and PostgreSQL: a change, its audit records and its events commit together
or not at all.

Each test starts from an empty chain (emptied inside the test's own transaction, which is rolled back
afterwards), so sequence numbers are exact whatever the session database already holds.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.exc import StatementError

from dgov.kernel import audit, clock, migrate
from dgov.kernel.audit import GENESIS_HASH, AuditEntry, CheckpointPolicy
from dgov.kernel.db import make_engine
from dgov.kernel.keys import NodeKey
from dgov.kernel.models import audit_head, audit_records, outbox_messages
from dgov.kernel.uow import Database

probe_metadata = MetaData()
# Stands for a domain table: the "change" a unit of work makes alongside its trace.
probe = Table(
    "test_uow_probe",
    probe_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
)

PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_HOST_URL = os.environ.get("DGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def entry(n: int, **kw: Any) -> AuditEntry:
    return AuditEntry(
        actor="user:cán-bộ-1", action="probe.created", object_type="probe", object_id=str(n), **kw
    )


async def empty_chain_and_probe(db: Database) -> None:
    async with db.uow() as uow:
        await uow.session.execute(text("DELETE FROM audit_checkpoints"))
        await uow.session.execute(text("DELETE FROM audit_records"))
        await uow.session.execute(text("DELETE FROM outbox_messages"))
        await uow.session.execute(
            text("UPDATE audit_head SET seq = 0, hash = :h WHERE id = 1"), {"h": GENESIS_HASH}
        )
        await uow.session.run_sync(lambda s: probe_metadata.create_all(s.connection()))
        await uow.commit()


@pytest.fixture
async def tdb(db: Database) -> AsyncIterator[Database]:
    await empty_chain_and_probe(db)
    yield db


async def counts(db: Database) -> dict[str, int]:
    async with db.uow(readonly=True) as uow:
        s = uow.session
        return {
            "probe": int(await s.scalar(select(func.count()).select_from(probe)) or 0),
            "audit": int(await s.scalar(select(func.count()).select_from(audit_records)) or 0),
            "outbox": int(await s.scalar(select(func.count()).select_from(outbox_messages)) or 0),
            "head": int(await s.scalar(select(audit_head.c.seq).where(audit_head.c.id == 1)) or 0),
        }


NOTHING = {"probe": 0, "audit": 0, "outbox": 0, "head": 0}


class Boom(Exception):
    pass


async def test_a_unit_of_work_that_raises_before_commit_leaves_nothing(tdb: Database) -> None:
    with pytest.raises(Boom):
        async with tdb.uow() as uow:
            await uow.session.execute(probe.insert().values(id=1, name="Nguyễn Thị Ánh"))
            uow.audit(entry(1))
            uow.publish("probe.created", {"id": 1})
            await uow.flush()
            raise Boom
    assert await counts(tdb) == NOTHING


async def test_leaving_without_commit_discards_everything(tdb: Database) -> None:
    async with tdb.uow() as uow:
        await uow.session.execute(probe.insert().values(id=1, name="x"))
        uow.audit(entry(1))
        uow.publish("probe.created", {"id": 1})
    assert await counts(tdb) == NOTHING


async def test_commit_writes_the_change_its_audit_record_and_its_event(tdb: Database) -> None:
    async with tdb.uow() as uow:
        await uow.session.execute(probe.insert().values(id=7, name="Trần Văn Bảy"))
        uow.audit(entry(7, legal_basis="Luật Căn cước 2023", details={"tên": "Trần Văn Bảy"}))
        msg_id = uow.publish("probe.created", {"id": 7})
        await uow.commit()
    assert await counts(tdb) == {"probe": 1, "audit": 1, "outbox": 1, "head": 1}
    async with tdb.uow(readonly=True) as uow:
        rec = (await uow.session.execute(select(audit_records))).one()
        msg = (await uow.session.execute(select(outbox_messages))).one()
    assert (rec.seq, rec.prev_hash, rec.object_id) == (1, GENESIS_HASH, "7")
    assert rec.legal_basis == "Luật Căn cước 2023"
    assert rec.details == {"tên": "Trần Văn Bảy"}
    assert (msg.id, msg.topic, msg.payload, msg.status) == (msg_id, "probe.created", {"id": 7}, "pending")


async def test_a_failure_after_the_audit_append_rolls_the_audit_record_back_with_the_change(
    tdb: Database,
) -> None:
    # At commit the audit records are inserted first; the event after them cannot be stored (a datetime
    # is not JSON), so the commit fails with audit rows already sent to the database. (SQLAlchemy wraps
    # the encoder's TypeError on SQLite; psycopg raises it as is.)
    with pytest.raises((StatementError, TypeError), match="not JSON serializable"):
        async with tdb.uow() as uow:
            await uow.session.execute(probe.insert().values(id=1, name="x"))
            uow.audit(entry(1))
            uow.publish("probe.created", {"at": datetime(2030, 1, 1, tzinfo=UTC)})
            await uow.commit()
    assert await counts(tdb) == NOTHING
    # The head did not move either: the next record is number 1 again and follows genesis.
    async with tdb.uow() as uow:
        uow.audit(entry(2))
        await uow.commit()
    async with tdb.uow(readonly=True) as uow:
        assert (await uow.session.execute(select(audit_records.c.seq, audit_records.c.prev_hash))).all() == [
            (1, GENESIS_HASH)
        ]


async def test_a_rollback_after_an_audit_append_leaves_no_audit_row(tdb: Database) -> None:
    async with tdb.uow() as uow:
        seq = await audit.append(uow.session, [entry(1), entry(2)], ts=clock.now(), policy=tdb.checkpoint)
        assert seq == 2
        # Written, inside this transaction...
        assert await uow.session.scalar(select(func.count()).select_from(audit_records)) == 2
        await uow.rollback()
        # ...and gone with it, head included.
        assert await uow.session.scalar(select(func.count()).select_from(audit_records)) == 0
        assert await uow.session.scalar(select(audit_head.c.seq)) == 0
    assert await counts(tdb) == NOTHING


async def test_a_float_in_audit_details_fails_the_commit_and_leaves_nothing(tdb: Database) -> None:
    with pytest.raises(TypeError, match="floats"):
        async with tdb.uow() as uow:
            await uow.session.execute(probe.insert().values(id=1, name="x"))
            uow.audit(entry(1, details={"đo": {"pm25": 35.5}}))
            uow.publish("probe.created", {"id": 1})
            await uow.commit()
    assert await counts(tdb) == NOTHING


async def test_a_readonly_unit_of_work_refuses_audit_and_publish(tdb: Database) -> None:
    async with tdb.uow(readonly=True) as uow:
        with pytest.raises(RuntimeError, match="read-only"):
            uow.audit(entry(1))
        with pytest.raises(RuntimeError, match="read-only"):
            uow.publish("probe.created", {"id": 1})
    assert await counts(tdb) == NOTHING


async def test_sequential_units_of_work_keep_chaining(tdb: Database) -> None:
    batches = [[1], [2, 3], [4], [5, 6, 7]]
    for batch in batches:
        async with tdb.uow() as uow:
            for n in batch:
                uow.audit(entry(n))
            await uow.commit()
    async with tdb.uow(readonly=True) as uow:
        rows = (await uow.session.execute(select(audit_records).order_by(audit_records.c.seq))).all()
        head = (await uow.session.execute(select(audit_head))).one()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert [r.object_id for r in rows] == ["1", "2", "3", "4", "5", "6", "7"]
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert (head.seq, head.hash) == (7, rows[-1].hash)
    async with tdb.uow() as uow:
        result = await audit.verify(await uow.session.connection(), key=tdb.checkpoint.key)
    assert result.ok, result
    assert (result.records, result.checkpoints) == (7, 1)


async def test_one_unit_of_work_can_be_committed_twice_and_keeps_chaining(tdb: Database) -> None:
    async with tdb.uow() as uow:
        uow.audit(entry(1))
        await uow.commit()
        uow.audit(entry(2))
        await uow.commit()
    async with tdb.uow(readonly=True) as uow:
        seqs = await uow.session.scalars(select(audit_records.c.seq).order_by(audit_records.c.seq))
        assert seqs.all() == [1, 2]


# --- a real engine: commits that other connections see, and concurrent writers --------------------------


def _pg_admin_or_skip() -> None:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return
    except psycopg.OperationalError:
        if ON_CI:
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 and CI=true")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")


@pytest.fixture
async def real_db(backend: str, tmp_path: Path, node_key: NodeKey) -> AsyncIterator[Database]:
    """A fresh, migrated database whose units of work really commit."""
    name = f"dgov_uow_{os.getpid()}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'uow.sqlite3'}"
    else:
        _pg_admin_or_skip()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{PG_HOST_URL}/{name}"
    await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(probe_metadata.create_all)
    try:
        yield Database.from_engine(engine, CheckpointPolicy(key=node_key, node="test-node", every=5))
    finally:
        await engine.dispose()
        if backend == "postgresql":
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_on_a_real_engine_commit_is_seen_by_other_connections_and_failure_is_not(
    real_db: Database,
) -> None:
    with pytest.raises(Boom):
        async with real_db.uow() as uow:
            await uow.session.execute(probe.insert().values(id=1, name="x"))
            uow.audit(entry(1))
            uow.publish("probe.created", {"id": 1})
            await uow.flush()
            raise Boom
    assert await counts(real_db) == NOTHING
    async with real_db.uow() as uow:
        await uow.session.execute(probe.insert().values(id=2, name="y"))
        uow.audit(entry(2))
        uow.publish("probe.created", {"id": 2})
        await uow.commit()
    assert real_db.engine is not None
    async with real_db.engine.connect() as conn:  # a separate connection, outside any unit of work
        assert (await conn.execute(select(probe.c.id))).scalars().all() == [2]
        records = (await conn.execute(select(audit_records.c.seq, audit_records.c.object_id))).all()
        assert records == [(1, "2")]
        assert await conn.scalar(select(func.count()).select_from(outbox_messages)) == 1


async def test_concurrent_units_of_work_never_fork_the_chain(real_db: Database) -> None:
    """Appends serialise on the head row (FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite)."""
    workers, per_worker = 8, 3

    async def work(w: int) -> None:
        async with real_db.uow() as uow:
            for i in range(per_worker):
                uow.audit(entry(w * 100 + i))
            await uow.commit()

    await asyncio.gather(*(work(w) for w in range(workers)))
    assert real_db.engine is not None
    async with real_db.engine.connect() as conn:
        result = await audit.verify(conn, key=real_db.checkpoint.key)  # in its own read-only snapshot
        rows = (await conn.execute(select(audit_records).order_by(audit_records.c.seq))).all()
    total = workers * per_worker
    assert [r.seq for r in rows] == list(range(1, total + 1))
    # Each unit of work's records are consecutive: no interleaving inside one transaction.
    for start in range(0, total, per_worker):
        ids = [int(r.object_id) for r in rows[start : start + per_worker]]
        assert [i // 100 for i in ids] == [ids[0] // 100] * per_worker
    assert result.ok, result
    assert (result.records, result.checkpoints) == (total, total // 5)
