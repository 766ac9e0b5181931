"""Running a dossier's process: start it, complete user tasks, fire timers, and save the state with the
work items and timers it implies, all inside the caller's unit of work."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Any, cast

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Table, select, update

from dgov.eservices import catalogue, tasks
from dgov.eservices.workflow.deployment import _spec, latest_definition
from dgov.eservices.workflow.engine import ENGINE, SERIALIZER, _remember, load
from dgov.eservices.workflow_models import WorkflowInstance, WorkflowTimer, WorkItem
from dgov.kernel import clock
from dgov.kernel.calendar import default_calendar
from dgov.kernel.clock import VN_TZ
from dgov.kernel.errors import Conflict, NotFound
from dgov.kernel.ids import new_id
from dgov.kernel.uow import UnitOfWork

_INSTANCES = cast(Table, WorkflowInstance.__table__)


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
