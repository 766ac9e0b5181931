"""Service tasks outside the transaction: the handlers that write through other domains' use cases run
after the caller's commit, their results are recorded once and applied in a new unit of work."""

from __future__ import annotations

import json
import uuid
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from dgov.eservices import tasks
from dgov.eservices.workflow.engine import load
from dgov.eservices.workflow.running import _run_steps, _save, _step, claim_instance, instance_for
from dgov.eservices.workflow_models import WorkflowEffect, WorkflowInstance
from dgov.kernel import clock
from dgov.kernel.uow import Database

# --- service tasks outside the transaction ---------------------------------------------------------------


async def run_pending(db: Database, services: Any, instance_id: uuid.UUID) -> int:
    """Run the external service tasks the instance is waiting on, then apply them; returns how many ran.
    Safe to call twice at once: effects are recorded once, and the state update is version-checked."""
    ran = 0
    for _round in range(50):
        async with db.uow(readonly=True) as uow:
            inst = await instance_for(uow, instance_id=instance_id)
            if not inst.pending or inst.status != "running":
                return ran
            wf = load(inst, mutate=False)
            todo = [
                t
                for t in wf.get_tasks(state=TaskState.READY)
                if isinstance(t.task_spec, ServiceTask)
                and not tasks.handler(t.task_spec.operation_name).inline  # type: ignore[union-attr]
            ]
            steps = [_step(inst, t) for t in todo]
            version = inst.lock_version
        results: dict[str, dict[str, Any]] = {}
        fresh: list[tuple[tasks.Step, dict[str, Any]]] = []
        for t, step in zip(todo, steps, strict=True):
            result, new = await _effect(db, services, step)
            results[str(t.id)] = result
            if new:
                fresh.append((step, result))
            ran += 1
        async with db.uow() as uow:
            inst = await instance_for(uow, instance_id=instance_id)
            if inst.lock_version != version:
                continue  # someone else moved it meanwhile: look again
            await claim_instance(uow, inst)
            # Recorded with the state that uses them (one commit fewer per service task); a handler
            # re-run after a crash in between finds its own work done (see tasks' idempotency rule).
            for step, result in fresh:
                uow.session.add(
                    WorkflowEffect(
                        instance_id=step.instance_id,
                        step=step.task_name,
                        result=json.loads(json.dumps(result)),
                        created_at=clock.now(),
                    )
                )
            wf = load(inst)
            await _run_steps(uow, inst, wf, precomputed=results)
            await _save(uow, inst, wf)
            await uow.commit()
    return ran


async def _effect(db: Database, services: Any, step: tasks.Step) -> tuple[dict[str, Any], bool]:
    """The handler's result: the recorded one if it ran before (False), else run it now (True)."""
    async with db.uow(readonly=True) as uow:
        done = await uow.session.scalar(
            select(WorkflowEffect.result).where(
                WorkflowEffect.instance_id == step.instance_id, WorkflowEffect.step == step.task_name
            )
        )
    if done is not None:
        return dict(done), False
    h = tasks.handler(step.operator)
    assert h is not None
    return await h.fn(services, step), True


async def pending_instances(db: Database, limit: int = 100) -> list[uuid.UUID]:
    async with db.uow(readonly=True) as uow:
        return list(
            await uow.session.scalars(
                select(WorkflowInstance.id)
                .where(WorkflowInstance.pending.is_(True), WorkflowInstance.status == "running")
                .limit(limit)
            )
        )
