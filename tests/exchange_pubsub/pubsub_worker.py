"""A real process for the pub/sub crash tests (test_crash.py); migrates nothing.

    pubsub_worker.py URL commit-then-die   --receiver URL --keys DIR --ready FILE
        subscribes the receiver to person.born, publishes one event and exits hard (os._exit) from the
        commit's after-commit hook: after the commit, before any delivery.
    pubsub_worker.py URL hang-in-delivery  --receiver URL --keys DIR --ready FILE
        the same, then dispatches with a 1 s lease: the webhook POST goes out and the receiver holds it
        until the test SIGKILLs this process.

The ready file (written atomically) carries the event id.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

from pubsub_support import exchange_registry

from dgov.exchange import pubsub, webhooks
from dgov.exchange import pubsub_subscriptions as subscriptions
from dgov.identity import SYSTEM
from dgov.kernel.audit import CheckpointPolicy
from dgov.kernel.db import make_engine
from dgov.kernel.keys import ensure_node_key
from dgov.kernel.outbox import Dispatcher
from dgov.kernel.uow import Database

PAYLOAD = {"id_number": "001226000321", "full_name": "Phạm Thu Trang", "birth_date": "2026-11-02"}


def signal_ready(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)


async def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("mode", choices=["commit-then-die", "hang-in-delivery"])
    p.add_argument("--receiver", required=True)
    p.add_argument("--keys", type=Path, required=True)
    p.add_argument("--ready", type=Path, required=True)
    args = p.parse_args(argv)

    db = Database.from_engine(
        make_engine(args.url), CheckpointPolicy(key=None, node="crash-test", every=1000)
    )
    webhooks.configure(context=webhooks.NodeContext(node_key=ensure_node_key(args.keys), node="crash-test"))
    await subscriptions.add_subscription(
        db, SYSTEM, member="GOV/BHXH", subsystem="BHYT", event_type="person.born", url=args.receiver
    )
    published: list[str] = []

    if args.mode == "commit-then-die":

        def die() -> None:
            signal_ready(args.ready, f"committed {published[0]}")
            os._exit(0)

        db.after_commit.append(die)

    async with db.uow() as uow:
        ev = await pubsub.publish_event(uow, "person.born", PAYLOAD, subject_id=PAYLOAD["id_number"])
        published.append(str(ev.id))
        await uow.commit()
    if args.mode == "commit-then-die":
        print("the after-commit hook did not run", file=sys.stderr)
        return 2

    signal_ready(args.ready, f"committed {published[0]}")
    await Dispatcher(db, exchange_registry(), lease=timedelta(seconds=1)).run_once()
    print("the delivery returned instead of hanging", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
