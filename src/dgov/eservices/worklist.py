"""Work queues: what officials (and, for a supplement, the applicant) do with a dossier's user tasks.

Authorisation is checked here for every use case: a work item belongs to the queue of an agency, a role
and an administrative unit; an official may see and act on it only with that role in that agency and
unit (or nationwide). Acting completes the BPMN user task, moves the dossier's status and records an
audit entry in one unit of work; service tasks the step made ready then run (`workflow.run_pending`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from dgov.eservices import dossiers, tasks, workflow
from dgov.eservices.models import dossiers as t_dossiers
from dgov.eservices.workflow_models import WorkItem
from dgov.identity import OfficialEntry, Principal, audit_by, officials_holding, register, require
from dgov.kernel import clock
from dgov.kernel.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from dgov.kernel.uow import Database

OFFICIAL_ACTIONS = ("receive", "approve", "supplement", "reject")
NEEDS_REASON = ("supplement", "reject")
OPEN = ("open", "claimed")


def _agency_ok(grant: str, agency: str) -> bool:
    # A commune's one-stop desk is agency "UBND-<commune>"; the process names the kind, "UBND".
    return grant == agency or grant.startswith(agency + "-")


def may_work(p: Principal, item: Any) -> bool:
    if p.kind == "citizen":
        return item.agency == "citizen" and p.account_id is not None and str(p.account_id) == item.unit
    if p.kind != "official" or p.level < 1:
        return False
    return any(
        g.role == item.role and _agency_ok(g.agency, item.agency) and g.unit in (item.unit, "*")
        for g in p.roles
    )


@register("eservices.work.queue")
def _queue_rule(p: Principal, _resource: Any) -> bool:
    return p.kind == "official" and p.level >= 1 and bool(p.roles)


@register("eservices.work.act")
def _act_rule(p: Principal, item: Any) -> bool:
    return may_work(p, item)


@register("eservices.work.assign")
def _assign_rule(p: Principal, item: Any) -> bool:
    """Within one's own queue, or as the administrator of the agency for the task's unit (or
    nationwide): an admin of one commune has no say over another commune's tasks."""
    if p.kind != "official" or p.level < 1:
        return False
    return may_work(p, item) or any(
        g.role == "agency_admin" and _agency_ok(g.agency, item.agency) and g.unit in (item.unit, "*")
        for g in p.roles
    )


@dataclass(frozen=True)
class QueueFilter:
    procedure: str | None = None
    status: str | None = None  # open | claimed | mine | overdue
    due_before: datetime | None = None


async def queue(
    db: Database, actor: Principal, flt: QueueFilter | None = None, *, limit: int = 200
) -> list[WorkItem]:
    require(actor, "eservices.work.queue")
    flt = flt or QueueFilter()
    roles = sorted({g.role for g in actor.roles})
    q = select(WorkItem).where(WorkItem.role.in_(roles), WorkItem.status.in_(OPEN))
    if flt.procedure:
        q = q.where(WorkItem.procedure == flt.procedure)
    if flt.status in ("open", "claimed"):
        q = q.where(WorkItem.status == flt.status)
    if flt.status == "mine":
        q = q.where(WorkItem.assignee == actor.ref)
    if flt.status == "overdue":
        q = q.where(WorkItem.due_at < clock.now())
    if flt.due_before is not None:
        q = q.where(WorkItem.due_at <= flt.due_before)
    q = q.order_by(WorkItem.due_at.is_(None), WorkItem.due_at, WorkItem.created_at).limit(limit * 4)
    async with db.uow(readonly=True) as uow:
        items = [w for w in await uow.session.scalars(q) if may_work(actor, w)]
    return items[:limit]


async def my_tasks(db: Database, actor: Principal) -> list[WorkItem]:
    """The applicant's own open tasks (supplying documents)."""
    if actor.kind != "citizen" or actor.account_id is None:
        return []
    async with db.uow(readonly=True) as uow:
        return list(
            await uow.session.scalars(
                select(WorkItem).where(
                    WorkItem.agency == "citizen",
                    WorkItem.unit == str(actor.account_id),
                    WorkItem.status.in_(OPEN),
                )
            )
        )


async def _item(uow: Any, item_id: uuid.UUID) -> WorkItem:
    item: WorkItem | None = await uow.session.get(WorkItem, item_id)
    if item is None:
        raise NotFound("No such work item")
    return item


async def claim(db: Database, actor: Principal, item_id: uuid.UUID) -> WorkItem:
    async with db.uow() as uow:
        item = await _item(uow, item_id)
        require(actor, "eservices.work.act", item)
        if item.status not in OPEN:
            raise Conflict("This task is no longer open")
        if item.status == "claimed" and item.assignee != actor.ref:
            raise Conflict("Another official has claimed this task")
        item.status, item.assignee = "claimed", actor.ref
        uow.audit(
            audit_by(
                actor,
                action="eservices.work_item_claimed",
                object_type="dossier",
                object_id=item.dossier_code,
                details={"task": item.task_name},
            )
        )
        await uow.commit()
    return item


async def eligible(uow: Any, item: WorkItem) -> list[OfficialEntry]:
    """The active officials who hold the task's role in its agency and unit: whom it may be given to."""
    return await officials_holding(uow, role=item.role, agency=item.agency, unit=item.unit)


async def assignees(db: Database, actor: Principal, items: list[WorkItem]) -> list[OfficialEntry]:
    """Everyone at least one of these tasks (those the actor may assign) may be given to, by name."""
    seen: dict[str, OfficialEntry] = {}
    async with db.uow(readonly=True) as uow:
        for key in {
            (w.role, w.agency, w.unit) for w in items if w.agency != "citizen" and _assign_rule(actor, w)
        }:
            for o in await officials_holding(uow, role=key[0], agency=key[1], unit=key[2]):
                seen.setdefault(o.ref, o)
    return sorted(seen.values(), key=lambda o: (o.full_name, o.ref))


async def assign(db: Database, actor: Principal, item_ids: list[uuid.UUID], assignee: str) -> list[WorkItem]:
    """Bulk assignment: all or none (one item the actor may not assign, or may not give to this
    assignee, refuses the whole batch). The assignee is an official's id (`official:<uuid>`) that must
    be an active official holding each task's role in its agency and unit: a made-up or out-of-unit id
    would block the task for the officials who may do it."""
    assignee = assignee.strip()
    if not assignee:
        raise ValidationFailed(errors=[FieldError(("assignee",), "This field is required")])
    if not item_ids:
        raise ValidationFailed(errors=[FieldError(("items",), "Choose at least one task")])
    async with db.uow() as uow:
        items = [await _item(uow, i) for i in item_ids]
        for item in items:
            require(actor, "eservices.work.assign", item)
            if item.status not in OPEN:
                raise Conflict("This task is no longer open")
            if item.agency == "citizen" or assignee not in {o.ref for o in await eligible(uow, item)}:
                raise ValidationFailed(
                    errors=[FieldError(("assignee",), "Choose an official who handles this task in its unit")]
                )
        for item in items:
            item.status, item.assignee = "claimed", assignee
            uow.audit(
                audit_by(
                    actor,
                    action="eservices.work_item_assigned",
                    object_type="dossier",
                    object_id=item.dossier_code,
                    details={"task": item.task_name, "assignee": item.assignee},
                )
            )
        await uow.commit()
    return items


def _prefix(item: WorkItem) -> str:
    return item.task_name.rsplit("_", 1)[0]


async def act(
    db: Database, services: Any, actor: Principal, item_id: uuid.UUID, action: str, *, reason: str = ""
) -> WorkItem:
    """receive / approve / supplement (reason) / reject (reason) an official's task."""
    reason = reason.strip()
    if action not in OFFICIAL_ACTIONS:
        raise ValidationFailed(errors=[FieldError(("action",), "This value is not valid")])
    if action in NEEDS_REASON and not reason:
        raise ValidationFailed(errors=[FieldError(("reason",), "Give the reason")])
    async with db.uow() as uow:
        item = await _item(uow, item_id)
        require(actor, "eservices.work.act", item)
        if item.agency == "citizen":
            raise Forbidden()
        await _check_open(item, actor, action)
        inst = await workflow.instance_for(uow, instance_id=item.instance_id)
        await workflow.claim_instance(uow, inst)
        _close(item, actor, action, reason)
        await uow.flush()
        if action == "supplement":
            await tasks.move_dossier(uow, item.dossier_id, "supplement_requested", actor=actor, note=reason)
            await _tell_applicant(uow, item, "eservices.supplement", reason)
        elif action == "receive":
            await tasks.move_dossier(uow, item.dossier_id, "in_processing", actor=actor)
        prefix = _prefix(item)
        await workflow.complete_user_task(
            uow, inst, item.task_id, {f"{prefix}_outcome": action, f"{prefix}_reason": reason}
        )
        uow.audit(
            audit_by(
                actor,
                action=f"eservices.dossier_{action}",
                object_type="dossier",
                object_id=item.dossier_code,
                details={"task": item.task_name, "reason": reason},
            )
        )
        await uow.commit()
        pending, instance_id = inst.pending, inst.id
    if pending:
        await workflow.run_pending(db, services, instance_id)
    return item


async def _tell_applicant(uow: Any, item: WorkItem, template: str, reason: str) -> None:
    d = await dossiers.get(uow, item.dossier_id)
    uow.publish(
        "notify.send",
        {
            "channel": "inbox",
            "person": d.applicant_id_number,
            "template": template,
            "params": {"code": item.dossier_code, "reason": reason},
            "locale": "vi",
        },
        key=item.dossier_code,
    )


async def _check_open(item: WorkItem, actor: Principal, action: str) -> None:
    if item.status not in OPEN:
        raise Conflict("This task is no longer open")
    if item.status == "claimed" and item.assignee not in (actor.ref, None):
        raise Conflict("Another official has claimed this task")
    if action not in item.actions.split(","):
        raise ValidationFailed(errors=[FieldError(("action",), "This action is not possible at this step")])


def _close(item: WorkItem, actor: Principal, outcome: str, reason: str) -> None:
    item.status, item.outcome, item.reason = "done", outcome, reason or None
    item.completed_at, item.completed_by = clock.now(), actor.ref


async def supply(
    db: Database, services: Any, actor: Principal, item_id: uuid.UUID, *, note: str = ""
) -> WorkItem:
    """The applicant answers a request for supplement; the dossier goes back to the official."""
    async with db.uow() as uow:
        item = await _item(uow, item_id)
        require(actor, "eservices.work.act", item)
        if item.agency != "citizen":
            raise Forbidden()
        await _check_open(item, actor, "supply")
        inst = await workflow.instance_for(uow, instance_id=item.instance_id)
        await workflow.claim_instance(uow, inst)
        _close(item, actor, "supply", note.strip())
        await uow.flush()
        await tasks.move_dossier(uow, item.dossier_id, "submitted", actor=actor, note=note.strip() or None)
        if _prefix(item) != "receive":
            await tasks.move_dossier(uow, item.dossier_id, "in_processing")
        await workflow.complete_user_task(
            uow, inst, item.task_id, {f"{_prefix(item)}_supplied": note.strip()}
        )
        uow.audit(
            audit_by(
                actor, action="eservices.dossier_supplied", object_type="dossier", object_id=item.dossier_code
            )
        )
        await uow.commit()
        pending, instance_id = inst.pending, inst.id
    if pending:
        await workflow.run_pending(db, services, instance_id)
    return item


async def resubmitted(db: Database, services: Any, dossier_id: uuid.UUID) -> bool:
    """The applicant resubmitted the dossier through the form (its status is `submitted` again) while
    the process still waits on their supplement task: complete that task for them. Called by the SLA
    tick for every such dossier, and by the form's submission when it knows about the workflow."""
    async with db.uow(readonly=True) as uow:
        item = await uow.session.scalar(
            select(WorkItem).where(
                WorkItem.dossier_id == dossier_id, WorkItem.agency == "citizen", WorkItem.status.in_(OPEN)
            )
        )
        status = await tasks.dossier_status(uow, dossier_id)
    if item is None or status != "submitted":
        return False
    applicant = Principal(kind="citizen", account_id=uuid.UUID(item.unit), level=1)
    await supply(db, services, applicant, item.id, note="")
    return True


async def waiting_resubmissions(db: Database, limit: int = 100) -> list[uuid.UUID]:

    async with db.uow(readonly=True) as uow:
        return list(
            await uow.session.scalars(
                select(WorkItem.dossier_id)
                .join(t_dossiers, t_dossiers.c.id == WorkItem.dossier_id)
                .where(
                    WorkItem.agency == "citizen",
                    WorkItem.status.in_(OPEN),
                    t_dossiers.c.status == "submitted",
                )
                .limit(limit)
            )
        )


@dataclass(frozen=True)
class DossierView:
    dossier: Any
    items: list[WorkItem]
    process: str
    process_version: int
    process_status: str


async def dossier_view(db: Database, actor: Principal, dossier_id: uuid.UUID) -> DossierView:
    """The dossier as an official handling it sees it: data with its sources, the branches' tasks."""
    async with db.uow(readonly=True) as uow:
        items = list(
            await uow.session.scalars(
                select(WorkItem).where(WorkItem.dossier_id == dossier_id).order_by(WorkItem.created_at)
            )
        )
        if not items or not any(may_work(actor, w) for w in items if w.agency != "citizen"):
            raise Forbidden() if items and actor.authenticated else NotFound("No such dossier")
        inst = await workflow.instance_for(uow, dossier_id=dossier_id)
        dossier = await dossiers.get(uow, dossier_id)
    return DossierView(dossier, items, inst.process_name, inst.process_version, inst.status)


def combined_status(items: list[WorkItem]) -> dict[str, str]:
    """Each branch's state, for the bundle's one combined status."""
    out: dict[str, str] = {}
    for w in items:
        if w.agency == "citizen" or not w.branch:
            continue
        out[w.branch] = w.outcome if w.status == "done" and w.outcome else w.status
    return out
