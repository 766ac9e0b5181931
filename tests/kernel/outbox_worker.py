"""A real process for the outbox crash tests (tests/kernel/test_outbox_crash.py); migrates nothing.

    outbox_worker.py URL commit-then-die  --ready FILE [--topic T]
        commits a unit of work that publishes one event, then exits hard (os._exit) from the commit's
        after-commit hook: the moment a dispatcher would have been woken, before any delivery.
    outbox_worker.py URL hang-in-consumer --ready FILE [--lease S]
        commits an event, then dispatches it to the consumer "recorder", which writes its row (not yet
        committed) and then hangs, waiting to be SIGKILLed.
    outbox_worker.py URL drain --ready FILE [--lease S]
        dispatches to "recorder" until no message is pending, then exits 0.

The consumer "recorder" records each delivery as a row of `crash_deliveries` (no unique constraint,
so a second delivery would show) in the unit of work it is handed. The ready file, written atomically,
is how the test learns what happened; every wait here is bounded by --deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from dgov.kernel.audit import CheckpointPolicy
from dgov.kernel.db import make_engine
from dgov.kernel.models import OutboxMessage
from dgov.kernel.outbox import Dispatcher, Message, Registry
from dgov.kernel.uow import Database, UnitOfWork

TOPIC = "person.registered"
CONSUMER = "recorder"
PAYLOAD = {"pid": "001099000001", "worker_pid": os.getpid()}

md = MetaData()
crash_deliveries = Table(
    "crash_deliveries",
    md,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False),
    Column("consumer", String(50), nullable=False),
    Column("worker", String(20), nullable=False),
)


def signal_ready(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: the test never reads half a line


async def publish_one(db: Database, topic: str) -> str:
    async with db.uow() as uow:
        msg_id = uow.publish(topic, PAYLOAD)
        await uow.commit()
    return str(msg_id)


async def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("mode", choices=["commit-then-die", "hang-in-consumer", "drain"])
    p.add_argument("--ready", type=Path, required=True)
    p.add_argument("--topic", default=TOPIC)
    p.add_argument("--lease", type=float, default=1.0)
    p.add_argument("--deadline", type=float, default=60.0)
    args = p.parse_args(argv)

    engine = make_engine(args.url)
    async with engine.begin() as conn:
        await conn.run_sync(md.create_all)
    db = Database.from_engine(engine, CheckpointPolicy(key=None, node="crash-test", every=1000))
    reg = Registry()
    dispatcher = Dispatcher(db, reg, lease=timedelta(seconds=args.lease), poll_seconds=0.05)

    if args.mode == "commit-then-die":
        published: list[str] = []

        def die() -> None:
            # This hook is what wakes an in-process dispatcher: dying here is dying between commit
            # and delivery.
            signal_ready(args.ready, f"committed {published[0]}")
            os._exit(0)

        db.after_commit.append(die)
        async with db.uow() as uow:
            published.append(str(uow.publish(args.topic, PAYLOAD)))
            await uow.commit()
        print("the after-commit hook did not run", file=sys.stderr)
        return 2

    if args.mode == "hang-in-consumer":

        @reg.subscribe(args.topic, CONSUMER)
        async def hang(uow: UnitOfWork, msg: Message) -> None:
            await uow.session.execute(
                insert(crash_deliveries).values(message_id=str(msg.id), consumer=CONSUMER, worker="A")
            )
            await uow.flush()
            signal_ready(args.ready, f"handed {msg.id} {msg.attempts}")
            await asyncio.sleep(args.deadline)  # "forever": the test kills us long before this ends
            os._exit(3)

        await publish_one(db, args.topic)
        await dispatcher.run_once()
        print("the consumer returned instead of hanging", file=sys.stderr)
        return 2

    @reg.subscribe(args.topic, CONSUMER)
    async def record(uow: UnitOfWork, msg: Message) -> None:
        await uow.session.execute(
            insert(crash_deliveries).values(message_id=str(msg.id), consumer=CONSUMER, worker="B")
        )

    deadline = time.monotonic() + args.deadline
    delivered = 0
    while True:
        delivered += await dispatcher.run_once()
        async with db.uow(readonly=True) as uow:
            pending = await uow.session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
            )
        if pending == 0:
            break
        if time.monotonic() > deadline:
            print(f"still {pending} pending after {args.deadline} s", file=sys.stderr)
            return 4
        await asyncio.sleep(0.05)  # e.g. waiting out a dead worker's lease
    await engine.dispose()
    signal_ready(args.ready, f"drained {delivered}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
