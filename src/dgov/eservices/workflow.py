"""The BPMN engine: SpiffWorkflow 3 executing the deployed process versions, its state in the database.

Every engine step runs inside the caller's unit of work, so the process state, the dossier's status,
work items, timers, audit records and outbox events commit together or not at all. Service tasks whose
handler writes through another domain's use cases (which commit on their own) cannot run inside that
transaction: the engine stops in front of them and marks the instance `pending`; `run_pending` (the
worker, `dgov eservices tick`, or the caller right after its commit) runs those handlers, records what
they did in `eservices_workflow_effects`, and applies the result in a new unit of work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Table, select, update

from dgov.eservices import catalogue, tasks
from dgov.eservices.workflow_models import (
    ProcessDefinition,
    WorkflowEffect,
    WorkflowInstance,
    WorkflowTimer,
    WorkItem,
)
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.calendar import default_calendar
from dgov.kernel.clock import VN_TZ
from dgov.kernel.errors import Conflict, NotFound, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.logging import guard_library_loggers
from dgov.kernel.uow import Database, UnitOfWork

log = logging.getLogger(__name__)
# SpiffWorkflow puts each task's whole data (the dossier form) on its step records: kept out of logs.
guard_library_loggers()
BPMN_DIR = Path(__file__).parent / "bpmn"
_INSTANCES = cast(Table, WorkflowInstance.__table__)


class _Environment(TaskDataEnvironment):  # type: ignore[misc]
    """Handlers already ran (see `_run_steps`) and put their result into the task's data; the engine's
    own call is then a formality."""

    def call_service(self, _context: Any, **_kwargs: Any) -> str:
        return "{}"


ENGINE = PythonScriptEngine(environment=_Environment())
SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


# --- process definitions ---------------------------------------------------------------------------------


def parse(name: str, source: str) -> Any:
    """The executable spec of process `name` in a BPMN document; a clear error if it is not one."""
    parser = SpiffBpmnParser()
    try:
        root = etree.fromstring(source.encode("utf-8"))
        parser.add_bpmn_xml(etree.ElementTree(root), filename=f"{name}.bpmn")
        spec = parser.get_spec(name)
    except (etree.XMLSyntaxError, ValidationException, KeyError, ValueError) as exc:
        raise ValidationFailed(
            "The BPMN file {name} is not a valid executable process: {error}",
            params={"name": name, "error": str(exc)[:300]},
        ) from exc
    for ts in spec.task_specs.values():
        if isinstance(ts, ServiceTask) and tasks.handler(ts.operation_name) is None:
            raise ValidationFailed(
                "The BPMN file {name} calls an unknown service task {operator}",
                params={"name": name, "operator": ts.operation_name},
            )
    return spec


@lru_cache(maxsize=64)
def _spec(name: str, source: str) -> Any:
    return parse(name, source)


def repo_files(directory: Path = BPMN_DIR) -> dict[str, Path]:
    return {p.stem: p for p in sorted(directory.glob("*.bpmn"))}


@dataclass(frozen=True)
class Deployed:
    name: str
    version: int
    sha256: str
    new: bool


async def deploy(uow: UnitOfWork, name: str, source: str, *, actor: str) -> Deployed:
    """Record `source` as the newest version of process `name` (the same content again is not a new
    version). Only the operator's command line calls this: users never upload BPMN."""
    parse(name, source)
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    latest = await latest_definition(uow, name)
    if latest is not None and latest.sha256 == digest:
        return Deployed(name, latest.version, digest, False)
    version = (latest.version if latest else 0) + 1
    uow.session.add(
        ProcessDefinition(
            name=name,
            version=version,
            sha256=digest,
            source=source,
            deployed_at=clock.now(),
            deployed_by=actor,
        )
    )
    uow.audit(
        AuditEntry(
            actor=actor,
            action="eservices.process_deployed",
            object_type="bpmn_process",
            object_id=f"{name}:{version}",
            details={"sha256": digest},
        )
    )
    await uow.flush()
    return Deployed(name, version, digest, True)


async def deploy_repo(uow: UnitOfWork, *, actor: str, names: Iterable[str] | None = None) -> list[Deployed]:
    files = repo_files()
    wanted = list(names) if names else list(files)
    unknown = [n for n in wanted if n not in files]
    if unknown:
        raise NotFound("No BPMN file named {name}", params={"name": ", ".join(unknown)})
    return [await deploy(uow, n, files[n].read_text(encoding="utf-8"), actor=actor) for n in wanted]


async def latest_definition(uow: UnitOfWork, name: str) -> ProcessDefinition | None:
    return cast(
        ProcessDefinition | None,
        await uow.session.scalar(
            select(ProcessDefinition)
            .where(ProcessDefinition.name == name)
            .order_by(ProcessDefinition.version.desc())
            .limit(1)
        ),
    )


async def definitions(uow: UnitOfWork) -> list[ProcessDefinition]:
    return list(
        await uow.session.scalars(
            select(ProcessDefinition).order_by(ProcessDefinition.name, ProcessDefinition.version)
        )
    )


# --- instances -------------------------------------------------------------------------------------------


def _sla_due(dossier: Any) -> datetime:
    """The end of the dossier's appointment day (Vietnam time): the SLA every official task carries."""
    due = getattr(dossier, "due_date", None)
    if due is None:
        due = default_calendar().add_working_days(clock.now().astimezone(VN_TZ).date(), 5)
    return datetime.combine(due, time(23, 59, 59), VN_TZ).astimezone(UTC)


def _process_name(dossier: Any) -> str:

    return str(catalogue.procedure(dossier.procedure_id).raw["process"]).removesuffix(".bpmn")


async def start(uow: UnitOfWork, dossier: Any, *, process: str | None = None) -> WorkflowInstance:
    """Start the dossier's process at the newest deployed version; the instance keeps that version."""
    name = process or _process_name(dossier)
    definition = await latest_definition(uow, name)
    if definition is None:
        raise Conflict("The process {name} is not deployed (dgov eservices deploy)", params={"name": name})
    spec = _spec(definition.name, definition.source)
    wf = BpmnWorkflow(spec, script_engine=ENGINE)
    now = clock.now()
    facts = {
        "dossier_id": str(dossier.id),
        "dossier_code": dossier.code,
        "procedure": dossier.procedure_id,
        "sla_due": _sla_due(dossier).isoformat(),
        "route": {
            "commune": dossier.commune_code or "",
            "province": dossier.province_code or "",
            "applicant": str(dossier.applicant_account),
        },
        "form": dict(dossier.data or {}),
    }
    for t in wf.get_tasks(state=TaskState.READY):
        t.data.update(facts)
    inst = WorkflowInstance(
        id=new_id(),
        dossier_id=dossier.id,
        dossier_code=dossier.code or "",
        procedure=dossier.procedure_id,
        process_name=definition.name,
        process_version=definition.version,
        state="",
        status="running",
        pending=False,
        lock_version=0,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(inst)
    await _advance(uow, inst, wf)
    return inst


# Workflows this process saved last, with the exact state text they were saved as: the next step on the
# same instance skips deserialising when the database still holds that text (a rolled-back save leaves a
# different text there, so a stale object is never used). A step takes its object out (it mutates it).
_recent: OrderedDict[uuid.UUID, tuple[str, BpmnWorkflow]] = OrderedDict()
_RECENT_MAX = 256


def load(inst: WorkflowInstance, *, mutate: bool = True) -> BpmnWorkflow:
    cached = _recent.pop(inst.id, None) if mutate else _recent.get(inst.id)
    if cached is not None and cached[0] == inst.state:
        return cached[1]
    wf = cast(BpmnWorkflow, SERIALIZER.deserialize_json(inst.state))
    wf.script_engine = ENGINE
    return wf


def _remember(inst: WorkflowInstance, wf: BpmnWorkflow) -> None:
    _recent[inst.id] = (inst.state, wf)
    _recent.move_to_end(inst.id)
    while len(_recent) > _RECENT_MAX:
        _recent.popitem(last=False)


async def instance_for(
    uow: UnitOfWork, *, dossier_id: uuid.UUID | None = None, instance_id: uuid.UUID | None = None
) -> WorkflowInstance:
    q = select(WorkflowInstance)
    q = (
        q.where(WorkflowInstance.dossier_id == dossier_id)
        if dossier_id
        else q.where(WorkflowInstance.id == instance_id)
    )
    inst = await uow.session.scalar(q)
    if inst is None:
        raise NotFound("No process runs for this dossier")
    return inst


def _ready_user_tasks(wf: BpmnWorkflow) -> list[Task]:
    return [t for t in wf.get_tasks(state=TaskState.READY) if isinstance(t.task_spec, UserTask)]


def _waiting_timers(wf: BpmnWorkflow) -> list[Task]:
    return [
        t
        for t in wf.get_tasks(state=TaskState.WAITING)
        if isinstance(getattr(t.task_spec, "event_definition", None), TimerEventDefinition)
    ]


async def complete_user_task(
    uow: UnitOfWork, inst: WorkflowInstance, task_id: str, data: dict[str, Any]
) -> BpmnWorkflow:
    wf = load(inst)
    task = wf.get_task_from_id(uuid.UUID(task_id))
    if task is None or task.state != TaskState.READY or not isinstance(task.task_spec, UserTask):
        raise Conflict("This task is no longer open")
    task.data.update(data)
    task.run()
    await _advance(uow, inst, wf)
    return wf


async def fire_timer(uow: UnitOfWork, inst: WorkflowInstance, task_id: str) -> bool:
    """Fire one boundary timer now (our clock passed its due time). False if it is gone already."""
    wf = load(inst)
    task = wf.get_task_from_id(uuid.UUID(task_id))
    if task is None or task.state != TaskState.WAITING:
        return False
    task._set_internal_data(event_fired=True)
    wf.refresh_timers()
    await _advance(uow, inst, wf)
    return True


async def _advance(uow: UnitOfWork, inst: WorkflowInstance, wf: BpmnWorkflow) -> None:
    """Run every step the engine can take inside this transaction, then save state, work items, timers."""
    await _run_steps(uow, inst, wf, precomputed={})
    await _save(uow, inst, wf)


def _step(inst: WorkflowInstance, t: Task) -> tasks.Step:
    ts = t.task_spec
    return tasks.Step(
        instance_id=inst.id,
        dossier_id=inst.dossier_id,
        dossier_code=inst.dossier_code,
        procedure=inst.procedure,
        task_name=ts.name,
        operator=ts.operation_name,
        data=dict(t.data),
    )


async def _run_steps(
    uow: UnitOfWork, inst: WorkflowInstance, wf: BpmnWorkflow, *, precomputed: dict[str, dict[str, Any]]
) -> None:
    while True:
        ready = [t for t in wf.get_tasks(state=TaskState.READY) if not t.task_spec.manual]
        progressed = False
        for t in ready:
            ts = t.task_spec
            if isinstance(ts, ServiceTask):
                key = str(t.id)
                h = tasks.handler(ts.operation_name)
                assert h is not None  # checked at deploy
                if key in precomputed:
                    result = precomputed.pop(key)
                elif h.inline:
                    result = await h.fn(uow, _step(inst, t))
                else:
                    continue  # left for run_pending, outside this transaction
                await tasks.apply(uow, _step(inst, t), result)
                t.data.update({k: v for k, v in result.items() if not k.startswith("_")})
            t.run()
            progressed = True
        wf.refresh_timers()
        if not progressed:
            return


def _is_external_ready(wf: BpmnWorkflow) -> bool:
    return any(
        isinstance(t.task_spec, ServiceTask) and not tasks.handler(t.task_spec.operation_name).inline  # type: ignore[union-attr]
        for t in wf.get_tasks(state=TaskState.READY)
    )


def _props(t: Task) -> dict[str, str]:
    return dict(getattr(t.task_spec, "extensions", {}).get("properties", {}))


async def _save(uow: UnitOfWork, inst: WorkflowInstance, wf: BpmnWorkflow) -> None:
    now = clock.now()
    inst.state = SERIALIZER.serialize_json(wf)
    _remember(inst, wf)
    inst.pending = _is_external_ready(wf)
    inst.status = "completed" if wf.is_completed() else "running"
    inst.updated_at = now
    await _sync_work_items(uow, inst, wf, now)
    await _sync_timers(uow, inst, wf)
    await uow.flush()


async def _sync_work_items(uow: UnitOfWork, inst: WorkflowInstance, wf: BpmnWorkflow, now: datetime) -> None:
    existing = {
        w.task_id: w
        for w in await uow.session.scalars(
            select(WorkItem).where(WorkItem.instance_id == inst.id, WorkItem.status.in_(("open", "claimed")))
        )
    }
    ready = {str(t.id): t for t in _ready_user_tasks(wf)}
    for task_id, item in existing.items():
        if task_id not in ready and item.status != "done":
            item.status = "cancelled"
            item.completed_at = now
    for task_id, t in ready.items():
        if task_id in existing:
            continue
        props = _props(t)
        route = t.data.get("route", {})
        scope = props.get("unit", "commune")
        due = t.data.get("sla_due")
        uow.session.add(
            WorkItem(
                id=new_id(),
                instance_id=inst.id,
                dossier_id=inst.dossier_id,
                dossier_code=inst.dossier_code,
                procedure=inst.procedure,
                task_id=task_id,
                task_name=t.task_spec.name,
                title=(t.task_spec.bpmn_name or t.task_spec.name)[:300],
                branch=props.get("branch", ""),
                agency=props.get("agency", ""),
                role=props.get("role", ""),
                unit=str(route.get(scope, "")),
                actions=props.get("actions", ""),
                status="open",
                assignee=str(route.get("applicant")) if props.get("agency") == "citizen" else None,
                due_at=datetime.fromisoformat(due) if due and props.get("agency") != "citizen" else None,
                overdue=False,
                created_at=now,
            )
        )


async def _sync_timers(uow: UnitOfWork, inst: WorkflowInstance, wf: BpmnWorkflow) -> None:
    known = set(
        await uow.session.scalars(select(WorkflowTimer.task_id).where(WorkflowTimer.instance_id == inst.id))
    )
    for t in _waiting_timers(wf):
        if str(t.id) in known:
            continue
        expression = t.task_spec.event_definition.expression
        value = t.data.get(expression) if expression in t.data else None
        if not value:
            continue
        uow.session.add(
            WorkflowTimer(
                id=new_id(),
                instance_id=inst.id,
                task_id=str(t.id),
                task_name=t.task_spec.name,
                due_at=datetime.fromisoformat(str(value)),
                fired_at=None,
            )
        )


async def claim_instance(uow: UnitOfWork, inst: WorkflowInstance) -> None:
    """Optimistic lock: a concurrent step on the same instance makes this one fail and retry."""
    result = await uow.session.execute(
        update(_INSTANCES)
        .where(_INSTANCES.c.id == inst.id, _INSTANCES.c.lock_version == inst.lock_version)
        .values(lock_version=inst.lock_version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The dossier was changed meanwhile; try again")
    inst.lock_version += 1


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
