"""Service task handlers: the Python behind each `spiffworkflow:serviceTaskOperator` in the BPMN files.

Two kinds. An *inline* handler runs inside the engine's unit of work (dossier status, notifications,
events): it returns what should happen and `apply` does it in the same transaction as the step. An
*external* handler writes through another domain's use cases, which commit on their own; the engine
runs it outside its transaction (see `workflow.run_pending`) and records its result once, so it must be
idempotent for its dossier (keys derived from the dossier, or "already done?" checks).

Reserved keys of a handler's result: `_status` (dossier statuses to move through, in order), `_events`
([topic, payload] pairs for the outbox), `_notify` (notify.send payloads), `_results` (dossier results),
`_person_born` (payload of the `person.born` event). Other keys are merged into the process data.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from dgov.eservices import dossiers
from dgov.eservices.workflow_models import WorkItem
from dgov.exchange import publish_event
from dgov.identity import SYSTEM
from dgov.kernel.uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    instance_id: uuid.UUID
    dossier_id: uuid.UUID
    dossier_code: str
    procedure: str
    task_name: str
    operator: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Handler:
    name: str
    inline: bool
    fn: Callable[[Any, Step], Awaitable[dict[str, Any]]]


_handlers: dict[str, Handler] = {}
_loaded = False


def inline(name: str) -> Callable[[Callable[[UnitOfWork, Step], Awaitable[dict[str, Any]]]], Any]:
    def add(fn: Callable[[UnitOfWork, Step], Awaitable[dict[str, Any]]]) -> Any:
        _handlers[name] = Handler(name, True, fn)
        return fn

    return add


def external(name: str) -> Callable[[Callable[[Any, Step], Awaitable[dict[str, Any]]]], Any]:
    def add(fn: Callable[[Any, Step], Awaitable[dict[str, Any]]]) -> Any:
        _handlers[name] = Handler(name, False, fn)
        return fn

    return add


def handler(name: str) -> Handler | None:
    global _loaded
    if not _loaded:
        _loaded = True
        importlib.import_module("dgov.eservices.birth")  # registers the birth bundle's handlers
    return _handlers.get(name)


# --- the dossier side of a step: statuses, results, events ----------------------------------------------


def status_path(current: str, target: str) -> list[str]:
    """The shortest chain of allowed moves from `current` to `target` (empty when already there)."""
    if current == target:
        return []
    allowed = dossiers.ALLOWED
    seen = {current: [current]}
    queue = deque([current])
    while queue:
        s = queue.popleft()
        for nxt in sorted(allowed.get(s, ())):
            if nxt in seen:
                continue
            seen[nxt] = [*seen[s], nxt]
            if nxt == target:
                return seen[nxt][1:]
            queue.append(nxt)
    return []


async def dossier_status(uow: UnitOfWork, dossier_id: uuid.UUID) -> str:
    return str((await dossiers.get(uow, dossier_id)).status)


async def move_dossier(
    uow: UnitOfWork, dossier_id: uuid.UUID, target: str, *, actor: Any = SYSTEM, note: str | None = None
) -> None:
    """Bring the dossier to `target` through the allowed transitions (each one on its timeline)."""
    current = await dossier_status(uow, dossier_id)
    # The work item's own rule (worklist.may_work) authorised the person; the engine then moves the
    # dossier as the system, naming that person on the timeline (a one-stop officer is not a member
    # of the processing agency, so the dossier rule alone would refuse the move).
    name = "" if actor is SYSTEM else actor.ref
    for status in status_path(current, target):
        await dossiers.transition(
            uow,
            dossier_id,
            status,
            actor=SYSTEM if actor.kind == "official" else actor,
            note=note if status == target else None,
            actor_name=name,
        )


async def add_result(uow: UnitOfWork, dossier_id: uuid.UUID, result: dict[str, Any]) -> None:
    await dossiers.add_result(uow, dossier_id, actor=SYSTEM, **result)


async def publish_person_born(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    await publish_event(uow, "person.born", payload, subject_id=payload.get("id_number"))


async def apply(uow: UnitOfWork, step: Step, result: dict[str, Any]) -> None:
    for status in result.get("_status", []):
        await move_dossier(uow, step.dossier_id, status, note=result.get("_note"))
    for topic, payload in result.get("_events", []):
        uow.publish(topic, payload, key=step.dossier_code)
    for payload in result.get("_notify", []):
        uow.publish("notify.send", payload, key=step.dossier_code)
    for res in result.get("_results", []):
        await add_result(uow, step.dossier_id, res)
    if "_person_born" in result:
        await publish_person_born(uow, result["_person_born"])


# --- generic handlers --------------------------------------------------------------------------------------


def notification(
    step: Step, template: str, *, person: str, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "channel": "inbox",
        # Without the person's ID number the message goes to the applicant's account.
        "person": person or None,
        "account_id": step.data.get("route", {}).get("applicant") if not person else None,
        "template": template,
        "params": {"code": step.dossier_code, **(params or {})},
        "locale": "vi",
    }


def _applicant_id(step: Step) -> str:
    return str(step.data.get("form", {}).get("applicant", {}).get("id_number", ""))


@inline("dossier.acknowledge")
async def _acknowledge(_uow: UnitOfWork, step: Step) -> dict[str, Any]:
    """The electronic receipt: a bundle has no one-stop officer, so it is in processing at once."""
    if step.procedure == "birth-bundle" or step.data.get("bundle"):
        return {"_status": ["in_processing"]}
    return {}


@inline("dossier.reject")
async def _reject(_uow: UnitOfWork, step: Step) -> dict[str, Any]:
    reason = next(
        (step.data.get(k) for k in sorted(step.data) if k.endswith("_reason") and step.data.get(k)), ""
    )
    return {"_status": ["rejected"], "_note": reason, "rejected": True, "reject_reason": reason}


@inline("dossier.issue")
async def _issue(_uow: UnitOfWork, _step: Step) -> dict[str, Any]:
    return {"_status": ["approved", "result_issued"], "issued": True}


@inline("dossier.notify")
async def _notify(_uow: UnitOfWork, step: Step) -> dict[str, Any]:
    if step.data.get("rejected"):
        template, params = "eservices.rejected", {"reason": step.data.get("reject_reason", "")}
    else:
        template = step.data.get("notify_template") or "eservices.result_issued"
        params = dict(step.data.get("notify_params") or {})
    people = [p for p in (step.data.get("notify_people") or [_applicant_id(step)]) if p] or [""]
    return {"_notify": [notification(step, template, person=p, params=params) for p in people]}


@inline("sla.overdue")
async def _overdue(uow: UnitOfWork, step: Step) -> dict[str, Any]:
    """The SLA passed with the task still open: mark its work items and tell the applicant."""

    branch_task = step.task_name.removesuffix("_overdue") + "_review"
    await uow.session.execute(
        update(WorkItem)
        .where(
            WorkItem.instance_id == step.instance_id,
            WorkItem.task_name == branch_task,
            WorkItem.status.in_(("open", "claimed")),
        )
        .values(overdue=True)
    )
    return {
        "_events": [
            [
                "eservices.dossier.overdue",
                {"dossier_id": str(step.dossier_id), "code": step.dossier_code, "task": branch_task},
            ]
        ],
        "_notify": [notification(step, "eservices.overdue", person=_applicant_id(step))],
    }
