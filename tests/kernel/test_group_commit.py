"""The group-commit writer against real databases (a file SQLite with synchronous=FULL, and PostgreSQL):
concurrent submissions share transactions, nobody returns before their rows are committed, and a bad
submission fails alone."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import IntegrityError

from dgov.kernel.audit import CheckpointPolicy
from dgov.kernel.db import make_engine
from dgov.kernel.group_commit import GroupCommitWriter
from dgov.kernel.keys import NodeKey
from dgov.kernel.uow import Database, UnitOfWork

META = MetaData()
ROWS = Table("gc_rows", META, Column("n", Integer, primary_key=True), Column("who", String(20)))


PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")


def _pg(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
async def real_db(
    backend: str, database_url: str, tmp_path: Path, node_key: NodeKey
) -> AsyncIterator[Database]:
    """Not the rolled-back test transaction: commits here are real commits, in a database of its own
    (`database_url` is only asked for so that an unreachable PostgreSQL fails or skips as elsewhere)."""
    name = f"dgov_group_commit_{os.getpid()}"
    if backend == "postgresql":
        _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg(f'CREATE DATABASE "{name}"')
        url = f"{database_url.rsplit('/', 1)[0]}/{name}"
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / name}.sqlite3"
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)
    yield Database.from_engine(engine, CheckpointPolicy(key=node_key, node="test-node", every=5))
    await engine.dispose()
    if backend == "postgresql":
        _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def write_rows(uow: UnitOfWork, rows: list[dict[str, object]]) -> None:
    await uow.session.execute(insert(ROWS), rows)


async def committed(db: Database) -> list[int]:
    async with db.uow(readonly=True) as uow:
        return list((await uow.session.scalars(select(ROWS.c.n).order_by(ROWS.c.n))).all())


async def test_concurrent_submissions_share_one_transaction(real_db: Database) -> None:
    writer = GroupCommitWriter(real_db, write_rows)
    await asyncio.gather(*(writer.submit([{"n": i, "who": "r"}]) for i in range(200)))
    assert await committed(real_db) == list(range(200))
    # Every submission arrived before the first commit began, so they all went in one transaction.
    assert (writer.stats.rows, writer.stats.batches, writer.stats.largest_batch) == (200, 1, 200)


async def test_batches_are_bounded_but_a_submission_is_never_split(real_db: Database) -> None:
    writer = GroupCommitWriter(real_db, write_rows, max_rows=50)
    await asyncio.gather(*(writer.submit([{"n": i}]) for i in range(120)))
    assert writer.stats.batches == 3 and writer.stats.largest_batch == 50
    await writer.submit([{"n": 1000 + i} for i in range(70)])
    assert writer.stats.largest_batch == 70
    assert len(await committed(real_db)) == 190


async def test_a_submission_returns_only_once_its_rows_are_committed(real_db: Database) -> None:
    writer = GroupCommitWriter(real_db, write_rows)
    seen: list[int] = []

    async def submit_then_look(i: int) -> None:
        await writer.submit([{"n": i}])
        # Another connection (a new unit of work) must already see the row.
        seen.append(i if i in await committed(real_db) else -1)

    await asyncio.gather(*(submit_then_look(i) for i in range(30)))
    assert sorted(seen) == list(range(30))


async def test_a_bad_submission_fails_alone(real_db: Database) -> None:
    writer = GroupCommitWriter(real_db, write_rows)
    await writer.submit([{"n": 7}])
    results = await asyncio.gather(
        writer.submit([{"n": 1}, {"n": 2}]),
        writer.submit([{"n": 3}, {"n": 7}]),  # 7 is taken: this submission (both rows) must fail
        writer.submit([{"n": 4}]),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], IntegrityError)
    assert await committed(real_db) == [1, 2, 4, 7]
    assert writer.stats.failed_submissions == 1


async def test_nothing_to_write_writes_nothing(real_db: Database) -> None:
    writer = GroupCommitWriter(real_db, write_rows)
    await writer.submit([])
    assert writer.stats.batches == 0
    async with real_db.uow(readonly=True) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(ROWS)) == 0


async def test_the_writer_keeps_working_after_its_flusher_ends(real_db: Database) -> None:
    writer = GroupCommitWriter(real_db, write_rows)
    for i in range(3):  # each submission finds the writer idle and starts a new flusher
        await writer.submit([{"n": i}])
        await asyncio.sleep(0)
    assert await committed(real_db) == [0, 1, 2] and writer.stats.batches == 3
