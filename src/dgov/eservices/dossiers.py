"""Dossiers: statuses and the transitions allowed between them, the timeline, results, apologies.

This module is the internal API the workflow uses (`get`, `transition`, `add_result`, `apologise`); the
citizen's use cases (drafts, submission, withdrawal, messages, rating) are in `dossiers_citizen`.
Every change goes through a unit of work with its audit entry and its `eservices.dossier.*` event.
"""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass, fields
from datetime import date, datetime
from types import ModuleType
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import RowMapping

from dgov.eservices import codes
from dgov.eservices import dossiers_rules as _rules
from dgov.eservices.catalogue import catalogue
from dgov.eservices.models import dossiers as t_dossiers
from dgov.eservices.models import events as t_events
from dgov.identity import Principal, audit_by, require
from dgov.kernel import clock
from dgov.kernel.calendar import WorkingCalendar, default_calendar
from dgov.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import UnitOfWork

_RULES = _rules  # importing registers the authorisation rules

DRAFT, SUBMITTED, RECEIVED, IN_PROCESSING = "draft", "submitted", "received", "in_processing"
SUPPLEMENT_REQUESTED, APPROVED, REJECTED = "supplement_requested", "approved", "rejected"
RESULT_ISSUED, WITHDRAWN = "result_issued", "withdrawn"
STATUSES = (
    DRAFT,
    SUBMITTED,
    RECEIVED,
    IN_PROCESSING,
    SUPPLEMENT_REQUESTED,
    APPROVED,
    REJECTED,
    RESULT_ISSUED,
    WITHDRAWN,
)
ALLOWED: dict[str, frozenset[str]] = {
    DRAFT: frozenset({SUBMITTED, WITHDRAWN}),
    SUBMITTED: frozenset({RECEIVED, SUPPLEMENT_REQUESTED, REJECTED, WITHDRAWN}),
    RECEIVED: frozenset({IN_PROCESSING, SUPPLEMENT_REQUESTED, REJECTED, WITHDRAWN}),
    IN_PROCESSING: frozenset({SUPPLEMENT_REQUESTED, APPROVED, REJECTED}),
    SUPPLEMENT_REQUESTED: frozenset({SUBMITTED, REJECTED, WITHDRAWN}),
    APPROVED: frozenset({RESULT_ISSUED}),
    REJECTED: frozenset(),
    RESULT_ISSUED: frozenset(),
    WITHDRAWN: frozenset(),
}
FINAL = frozenset({REJECTED, RESULT_ISSUED, WITHDRAWN})
# What the applicant may do themself; every other move is the agencies' (officials or the workflow).
APPLICANT_MOVES = frozenset({SUBMITTED, WITHDRAWN})
# A dossier is running late only while the agencies still owe the result.
RUNNING = frozenset({SUBMITTED, RECEIVED, IN_PROCESSING, APPROVED})

_calendar: WorkingCalendar | None = None


def calendar() -> WorkingCalendar:
    global _calendar
    if _calendar is None:
        _calendar = default_calendar()
    return _calendar


@dataclass(frozen=True)
class Dossier:
    id: uuid.UUID
    code: str | None
    procedure_id: str
    procedure_digest: str
    agency_code: str
    agency_member: str
    applicant_account: uuid.UUID
    applicant_id_number: str
    applicant_name: str
    on_behalf_of: uuid.UUID | None
    commune_code: str | None
    province_code: str | None
    status: str
    idempotency_key: str
    data: dict[str, Any]
    sources: dict[str, Any]
    attachments: list[dict[str, Any]]
    results: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    due_date: date | None
    closed_at: datetime | None
    rating: int | None
    rating_comment: str | None

    @classmethod
    def from_row(cls, row: RowMapping) -> Dossier:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    @property
    def agencies(self) -> set[str]:
        proc = catalogue().get(self.procedure_id)
        return proc.agencies() if proc else {self.agency_member}

    @property
    def ref(self) -> str:
        """How access-log entries and messages name the dossier: its code, or the draft's id."""
        return self.code or f"draft-{self.id}"

    def is_overdue(self, today: date | None = None) -> bool:
        today = today or clock.now().astimezone(clock.VN_TZ).date()
        return self.status in RUNNING and self.due_date is not None and today > self.due_date


@dataclass(frozen=True)
class Event:
    id: uuid.UUID
    dossier_id: uuid.UUID
    at: datetime
    kind: str
    from_status: str | None
    to_status: str | None
    actor: str
    actor_name: str
    note: str | None
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: RowMapping) -> Event:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


def vn_today() -> date:
    return clock.now().astimezone(clock.VN_TZ).date()


def due_date(submitted: datetime, days: int) -> date:
    """The appointment: `days` working days after the day of receipt, the day of receipt not counted;
    a dossier that arrives on a day off is received on the next working day."""
    cal = calendar()
    day = submitted.astimezone(clock.VN_TZ).date()
    received = day if cal.is_working_day(day) else cal.next_working_day(day)
    return cal.add_working_days(received, days) if days else received


async def get(uow: UnitOfWork, dossier_id: uuid.UUID) -> Dossier:
    row = (
        (await uow.session.execute(select(t_dossiers).where(t_dossiers.c.id == dossier_id)))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("No dossier {id}", params={"id": str(dossier_id)})
    return Dossier.from_row(row)


async def get_by_code(uow: UnitOfWork, code: str) -> Dossier:
    row = (await uow.session.execute(select(t_dossiers).where(t_dossiers.c.code == code))).mappings().first()
    if row is None:
        raise NotFound("No dossier {id}", params={"id": code})
    return Dossier.from_row(row)


async def events_of(uow: UnitOfWork, dossier_id: uuid.UUID) -> list[Event]:
    rows = (
        (
            await uow.session.execute(
                select(t_events)
                .where(t_events.c.dossier_id == dossier_id)
                .order_by(t_events.c.at, t_events.c.id)
            )
        )
        .mappings()
        .all()
    )
    return [Event.from_row(r) for r in rows]


async def add_event(
    uow: UnitOfWork,
    dossier: Dossier,
    *,
    kind: str,
    actor: Principal,
    actor_name: str = "",
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> uuid.UUID:
    event_id = new_id()
    await uow.session.execute(
        t_events.insert().values(
            id=event_id,
            dossier_id=dossier.id,
            at=clock.now(),
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            actor=actor.ref,
            actor_name=actor_name or _display(actor),
            note=note,
            data=data or {},
        )
    )
    return event_id


def _display(p: Principal) -> str:
    return {"system": "Hệ thống", "citizen": "Người nộp hồ sơ"}.get(p.kind, p.ref)


def _authorise_move(actor: Principal, dossier: Dossier, to_status: str) -> None:
    if actor.kind == "citizen":
        require(actor, "eservices.dossier.applicant", dossier)
        if to_status not in APPLICANT_MOVES:
            require(actor, "eservices.dossier.process", dossier)  # refused: a citizen never processes
    else:
        require(actor, "eservices.dossier.process", dossier)


async def transition(
    uow: UnitOfWork,
    dossier_id: uuid.UUID,
    to_status: str,
    *,
    actor: Principal,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    actor_name: str = "",
) -> Dossier:
    """Move a dossier to `to_status` if the table allows it; the caller commits `uow`.

    The status is compared in the UPDATE itself, so two officials (or a double click) acting on the same
    dossier at once cannot both move it: the second gets a Conflict."""
    if to_status not in ALLOWED:
        raise ValidationFailed(errors=[FieldError(("status",), "Unknown status")])
    dossier = await get(uow, dossier_id)
    _authorise_move(actor, dossier, to_status)
    if to_status not in ALLOWED[dossier.status]:
        raise Conflict(
            "A dossier that is {current} cannot become {target}",
            params={"current": dossier.status, "target": to_status},
        )
    if to_status in (REJECTED, SUPPLEMENT_REQUESTED) and not (note or "").strip():
        raise ValidationFailed(errors=[FieldError(("note",), "Give the reason")])
    now = clock.now()
    values: dict[str, Any] = {"status": to_status, "updated_at": now}
    if to_status in FINAL:
        values["closed_at"] = now
    if data:
        values["results"] = [*dossier.results, {"kind": "data", "at": now.isoformat(), "data": data}]
    done = await uow.session.execute(
        update(t_dossiers)
        .where(t_dossiers.c.id == dossier.id, t_dossiers.c.status == dossier.status)
        .values(values)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The dossier changed meanwhile; reload and try again")
    await add_event(
        uow,
        dossier,
        kind="status",
        actor=actor,
        actor_name=actor_name,
        from_status=dossier.status,
        to_status=to_status,
        note=note,
        data=data,
    )
    uow.audit(
        audit_by(
            actor,
            action=f"eservices.dossier.{to_status}",
            object_type="dossier",
            object_id=dossier.ref,
            details={"from": dossier.status, "note": note or ""},
        )
    )
    uow.publish(
        f"eservices.dossier.{to_status}",
        {
            "dossier_id": str(dossier.id),
            "code": dossier.code,
            "procedure": dossier.procedure_id,
            "from": dossier.status,
            "to": to_status,
        },
        key=dossier.ref,
    )
    return await get(uow, dossier.id)


async def assign_code(uow: UnitOfWork, dossier: Dossier) -> Dossier:
    """Number a draft and fix its appointment date, as the first step of its submission."""
    now = clock.now()
    code = dossier.code or await codes.next_code(
        uow.session, dossier.agency_code, now.astimezone(clock.VN_TZ).date()
    )
    proc = catalogue()[dossier.procedure_id]
    due = due_date(now, proc.deadline_days)
    done = await uow.session.execute(
        update(t_dossiers)
        .where(t_dossiers.c.id == dossier.id, t_dossiers.c.status == dossier.status)
        .values(code=code, submitted_at=dossier.submitted_at or now, due_date=due, updated_at=now)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The dossier changed meanwhile; reload and try again")
    return await get(uow, dossier.id)


async def add_result(
    uow: UnitOfWork, dossier_id: uuid.UUID, *, kind: str, title: str, ref: str, actor: Principal
) -> None:
    """Attach a result (e.g. the signed certificate's document id) that the citizen sees and can open."""
    dossier = await get(uow, dossier_id)
    require(actor, "eservices.dossier.process", dossier)
    now = clock.now()
    item = {"kind": kind, "title": title, "ref": ref, "at": now.isoformat()}
    await uow.session.execute(
        update(t_dossiers)
        .where(t_dossiers.c.id == dossier.id)
        .values(results=[*dossier.results, item], updated_at=now)
    )
    await add_event(uow, dossier, kind="result", actor=actor, note=title, data=item)
    uow.audit(
        audit_by(
            actor,
            action="eservices.dossier.result",
            object_type="dossier",
            object_id=dossier.ref,
            details={"kind": kind, "ref": ref},
        )
    )


async def apologise(
    uow: UnitOfWork,
    dossier_id: uuid.UUID,
    *,
    actor: Principal,
    reason: str,
    new_due: date,
    actor_name: str = "",
) -> Dossier:
    """The apology letter for a late dossier (thư xin lỗi): the reason and a new appointment date."""
    dossier = await get(uow, dossier_id)
    require(actor, "eservices.dossier.process", dossier)
    today = vn_today()
    if not dossier.is_overdue(today):
        raise Conflict("This dossier is not overdue")
    errors = []
    if not reason.strip():
        errors.append(FieldError(("reason",), "Give the reason"))
    if new_due <= today or not calendar().is_working_day(new_due):
        errors.append(FieldError(("new_due",), "Choose a working day after today"))
    if errors:
        raise ValidationFailed(errors=errors)
    await uow.session.execute(
        update(t_dossiers)
        .where(t_dossiers.c.id == dossier.id)
        .values(due_date=new_due, updated_at=clock.now())
    )
    data = {
        "reason": reason.strip(),
        "old_due": dossier.due_date.isoformat() if dossier.due_date else None,
        "new_due": new_due.isoformat(),
    }
    await add_event(
        uow, dossier, kind="apology", actor=actor, actor_name=actor_name, note=reason.strip(), data=data
    )
    uow.audit(
        audit_by(
            actor,
            action="eservices.dossier.apology",
            object_type="dossier",
            object_id=dossier.ref,
            details=data,
        )
    )
    uow.publish(
        "eservices.dossier.apology",
        {"dossier_id": str(dossier.id), "code": dossier.code, **data},
        key=dossier.ref,
    )
    return await get(uow, dossier.id)


async def overdue(uow: UnitOfWork, today: date | None = None) -> list[Dossier]:
    today = today or vn_today()
    rows = (
        (
            await uow.session.execute(
                select(t_dossiers).where(
                    t_dossiers.c.status.in_(sorted(RUNNING)), t_dossiers.c.due_date < today
                )
            )
        )
        .mappings()
        .all()
    )
    return [Dossier.from_row(r) for r in rows]


def workflow_module() -> ModuleType:
    """The workflow engine (imported late: it imports this module)."""
    return importlib.import_module("dgov.eservices.workflow")
