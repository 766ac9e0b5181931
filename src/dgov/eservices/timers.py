"""The SLA clock: fire boundary timers whose due time our clock has passed, and run pending service tasks.

`tick` is what `dgov eservices tick` runs once and what the background worker of `dgov serve` runs in a
loop. Timers are compared with `dgov.kernel.clock`, so tests move time with a FrozenClock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from dgov.eservices import workflow, worklist
from dgov.eservices.workflow_models import WorkflowTimer
from dgov.kernel import clock
from dgov.kernel.errors import Conflict
from dgov.kernel.uow import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickResult:
    timers_fired: int
    service_tasks_run: int


async def tick(db: Database, services: Any, *, limit: int = 100) -> TickResult:
    now = clock.now()
    async with db.uow(readonly=True) as uow:
        due = list(
            await uow.session.scalars(
                select(WorkflowTimer)
                .where(WorkflowTimer.fired_at.is_(None), WorkflowTimer.due_at <= now)
                .order_by(WorkflowTimer.due_at)
                .limit(limit)
            )
        )
    fired = 0
    for timer in due:
        try:
            async with db.uow() as uow:
                row = await uow.session.get(WorkflowTimer, timer.id)
                if row is None or row.fired_at is not None:
                    continue
                inst = await workflow.instance_for(uow, instance_id=row.instance_id)
                row.fired_at = now
                if inst.status == "running":
                    await workflow.claim_instance(uow, inst)
                    if await workflow.fire_timer(uow, inst, row.task_id):
                        fired += 1
                await uow.commit()
        except Conflict:
            continue  # the instance moved meanwhile; the next tick looks again

    for dossier_id in await worklist.waiting_resubmissions(db, limit):
        try:
            await worklist.resubmitted(db, services, dossier_id)
        except Conflict:
            continue
    ran = 0
    for instance_id in await workflow.pending_instances(db, limit):
        ran += await workflow.run_pending(db, services, instance_id)
    return TickResult(fired, ran)


async def run_forever(db: Database, services: Any, stop: asyncio.Event, *, every: float = 5.0) -> None:
    while not stop.is_set():
        try:
            await tick(db, services)
        except Exception:
            log.exception("workflow tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


async def background(rt: Any, stop: asyncio.Event) -> None:
    """Started by `Runtime.start_background` (so by `dgov serve`): the SLA clock every few seconds."""
    await run_forever(rt.db, rt, stop)
