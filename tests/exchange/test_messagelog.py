"""The message log: a hash chain with signed checkpoints, group-committed; verification names the first
altered record; the archive export carries records and checkpoints. Both databases."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta

from sqlalchemy import delete, select, update

from dgov.exchange.messagelog import LogEntry, MessageLog, checkpoint_now, entry_hash, export_jsonl, verify
from dgov.exchange.models import log_head_t, log_t
from dgov.kernel import clock
from dgov.kernel.audit import GENESIS_HASH
from dgov.kernel.keys import NodeKey
from dgov.kernel.uow import Database


def entry(i: int) -> LogEntry:
    return LogEntry(
        ts=clock.now() + timedelta(microseconds=i),
        message_id=f"m-{i}",
        client="VN/GOV/BTP/HOTICH",
        service="VN/GOV/BCA/CSDLQGDC/population",
        method="GET",
        path="VN/GOV/BCA/CSDLQGDC/population/records/x",
        status=200,
        outcome="ok",
        duration_ms=1,
        details={"purpose": "Hộ tịch", "n": i},
    )


async def written(db: Database, key: NodeKey, n: int, every: int = 4) -> MessageLog:
    log = MessageLog(db, key=key, node="test-node", every=every)
    await asyncio.gather(*(log.write(entry(i)) for i in range(n)))
    async with db.uow(readonly=True) as uow:
        ids = (await uow.session.execute(select(log_t.c.message_id).order_by(log_t.c.seq))).scalars().all()
    assert sorted(ids) == sorted(f"m-{i}" for i in range(n))  # every concurrent writer's entry, once
    return log


async def test_concurrent_writes_form_one_chain_with_checkpoints(db: Database, node_key: NodeKey) -> None:
    await written(db, node_key, 10)
    async with db.uow() as uow:
        conn = await uow.session.connection()
        result = await verify(conn, key=node_key)
        assert result.ok and result.records == 10 and result.checkpoints == 2, result
        first = (await conn.execute(log_t.select().where(log_t.c.seq == 1))).one()
        assert first.prev_hash == GENESIS_HASH and first.hash == entry_hash(1, GENESIS_HASH, first)


async def test_an_altered_record_is_named(db: Database, node_key: NodeKey) -> None:
    await written(db, node_key, 10)
    async with db.uow() as uow:
        conn = await uow.session.connection()
        await conn.execute(update(log_t).where(log_t.c.seq == 7).values(status=403))
        result = await verify(conn, key=node_key)
    assert not result.ok and result.first_bad_seq == 7 and "record 7" in (result.reason or "")


async def test_a_deleted_tail_under_a_checkpoint_is_detected(db: Database, node_key: NodeKey) -> None:
    await written(db, node_key, 9)
    async with db.uow() as uow:
        conn = await uow.session.connection()
        await conn.execute(delete(log_t).where(log_t.c.seq >= 6))
        result = await verify(conn, key=node_key)
    assert not result.ok and result.first_bad_seq == 6


async def test_a_rewritten_chain_fails_on_the_signed_checkpoint(db: Database, node_key: NodeKey) -> None:
    await written(db, node_key, 8)
    async with db.uow() as uow:
        conn = await uow.session.connection()
        # Someone with database access rewrites record 2 and recomputes every hash after it…
        rows = (await conn.execute(log_t.select().order_by(log_t.c.seq))).all()
        prev = GENESIS_HASH
        for r in rows:
            details = {**r.details, "purpose": "forged"} if r.seq == 2 else r.details
            fake = type("R", (), {**r._mapping, "details": details})
            h = entry_hash(r.seq, prev, fake)
            await conn.execute(
                update(log_t).where(log_t.c.seq == r.seq).values(details=details, prev_hash=prev, hash=h)
            )
            prev = h

        await conn.execute(update(log_head_t).values(hash=prev))
        result = await verify(conn, key=node_key)
    # …but cannot re-sign checkpoint 4: the records it vouched for are named from the first one.
    assert not result.ok and result.first_bad_seq == 1 and "checkpoint 4" in (result.reason or "")


async def test_export_holds_records_and_signed_checkpoints(db: Database, node_key: NodeKey) -> None:
    await written(db, node_key, 5)
    async with db.uow() as uow:
        await checkpoint_now(uow.session, key=node_key, node="test-node", ts=clock.now())
        conn = await uow.session.connection()
        out = io.StringIO()
        n = await export_jsonl(conn, out)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert n == 5 and [x["seq"] for x in lines if x["kind"] == "record"] == [1, 2, 3, 4, 5]
    assert [x["seq"] for x in lines if x["kind"] == "checkpoint"] == [4, 5]
    assert lines[0]["details"]["purpose"] == "Hộ tịch"
