"""The BPMN engine: deployment and versions, routing to queues, actions, supplement loop, SLA timers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from dgov.eservices import dossiers, timers, workflow, worklist
from dgov.eservices.workflow_demo import AN, direct_submit
from dgov.eservices.workflow_models import WorkflowInstance, WorkItem
from dgov.identity import SYSTEM, Principal, RoleGrant
from dgov.identity import service as id_service
from dgov.identity.context import IdentityContext
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock
from dgov.kernel.errors import Conflict, Forbidden, ValidationFailed
from dgov.kernel.uow import Database
from dgov.web.runtime import Runtime

AN_ACCOUNT = uuid.UUID("0190aaaa-0000-7000-8000-000000000001")


def citizen(account: uuid.UUID) -> Principal:
    return Principal(kind="citizen", account_id=account, level=2)


def official(agency: str, role: str, unit: str) -> Principal:
    return Principal(
        kind="official", account_id=uuid.uuid4(), level=2, roles=(RoleGrant(agency, role, unit),)
    )


ONE_STOP = official("UBND-00004", "one_stop_officer", "00004")
HOTICH = official("BTP", "civil_status_officer", "00004")
CUTRU = official("BCA", "residence_officer", "00004")
HOTICH_ELSEWHERE = official("BTP", "civil_status_officer", "26740")


async def _deploy(db: Database, *names: str) -> list[workflow.Deployed]:
    async with db.uow() as uow:
        done = await workflow.deploy_repo(uow, actor="operator:test", names=list(names) or None)
        await uow.commit()
    return done


async def _submit(rt: Runtime, procedure: str = "birth-registration") -> Any:
    form = {
        "_route": {"commune_code": "00004", "province_code": "01"},
        "applicant": {"id_number": AN, "full_name": "Nguyễn Văn An"},
    }
    return await direct_submit(rt, citizen(AN_ACCOUNT), AN, "Nguyễn Văn An", procedure, form)


async def _items(db: Database, dossier_id: Any) -> list[WorkItem]:
    async with db.uow(readonly=True) as uow:
        return list(
            await uow.session.scalars(
                select(WorkItem).where(WorkItem.dossier_id == dossier_id).order_by(WorkItem.created_at)
            )
        )


async def _status(db: Database, dossier_id: Any) -> str:
    async with db.uow(readonly=True) as uow:
        return (await dossiers.get(uow, dossier_id)).status


async def test_deploy_records_versions_and_running_dossiers_keep_theirs(
    runtime: Runtime, families: Database
) -> None:
    first = await _deploy(runtime.db, "birth_registration")
    assert first[0].version == 1 and first[0].new and len(first[0].sha256) == 64
    again = await _deploy(runtime.db, "birth_registration")
    assert again[0].version == 1 and not again[0].new
    d = await _submit(runtime)
    source = workflow.repo_files()["birth_registration"].read_text(encoding="utf-8") + "<!-- v2 -->\n"
    async with runtime.db.uow() as uow:
        v2 = await workflow.deploy(uow, "birth_registration", source, actor="operator:test")
        await uow.commit()
    assert v2.version == 2
    async with runtime.db.uow(readonly=True) as uow:
        inst = await workflow.instance_for(uow, dossier_id=d.id)
    assert (inst.process_name, inst.process_version) == ("birth_registration", 1)
    d2 = await _submit(runtime)
    async with runtime.db.uow(readonly=True) as uow:
        assert (await workflow.instance_for(uow, dossier_id=d2.id)).process_version == 2


async def test_a_bad_or_unknown_bpmn_is_refused(runtime: Runtime) -> None:
    async with runtime.db.uow() as uow:
        with pytest.raises(ValidationFailed):
            await workflow.deploy(uow, "x", "<not-bpmn", actor="operator:test")
        bad = (
            workflow.repo_files()["marital_status"]
            .read_text(encoding="utf-8")
            .replace("dossier.issue", "no.such.handler")
        )
        with pytest.raises(ValidationFailed):
            await workflow.deploy(uow, "marital_status", bad, actor="operator:test")
        assert await workflow.latest_definition(uow, "marital_status") is None


async def test_an_undeployed_process_cannot_start(runtime: Runtime, families: Database) -> None:
    with pytest.raises(Conflict):
        await _submit(runtime)


async def test_routing_actions_and_the_supplement_loop(runtime: Runtime, families: Database) -> None:
    db = runtime.db
    await _deploy(db, "birth_registration")
    d = await _submit(runtime)
    [receive] = await _items(db, d.id)
    assert (receive.agency, receive.role, receive.unit, receive.status) == (
        "UBND",
        "one_stop_officer",
        "00004",
        "open",
    )
    assert receive.due_at is not None
    # The one-stop desk of the commune sees it; the justice officer and another commune's desk do not.
    assert [w.id for w in await worklist.queue(db, ONE_STOP)] == [receive.id]
    assert await worklist.queue(db, HOTICH) == []
    assert await worklist.queue(db, official("UBND-26740", "one_stop_officer", "26740")) == []
    with pytest.raises(Forbidden):
        await worklist.act(db, runtime, CUTRU, receive.id, "receive")
    with pytest.raises(ValidationFailed):
        await worklist.act(db, runtime, ONE_STOP, receive.id, "approve")  # not an action of this step
    with pytest.raises(ValidationFailed):
        await worklist.act(db, runtime, ONE_STOP, receive.id, "reject")  # no reason
    assert await _status(db, d.id) == "submitted"

    await worklist.act(db, runtime, ONE_STOP, receive.id, "receive")
    assert await _status(db, d.id) == "in_processing"
    with pytest.raises(Conflict):
        await worklist.act(db, runtime, ONE_STOP, receive.id, "receive")  # done already
    [decide] = [w for w in await _items(db, d.id) if w.status == "open"]
    assert (decide.agency, decide.role, decide.task_name) == ("BTP", "civil_status_officer", "decide_review")
    assert [w.id for w in await worklist.queue(db, HOTICH)] == [decide.id]
    assert await worklist.queue(db, HOTICH_ELSEWHERE) == []

    await worklist.act(db, runtime, HOTICH, decide.id, "supplement", reason="Thiếu giấy chứng sinh")
    assert await _status(db, d.id) == "supplement_requested"
    [supply] = [w for w in await _items(db, d.id) if w.status == "open"]
    assert supply.agency == "citizen" and supply.unit == str(AN_ACCOUNT)
    with pytest.raises(Forbidden):
        await worklist.supply(db, runtime, citizen(AN_ACCOUNT.__class__(int=1)), supply.id)
    await worklist.supply(db, runtime, citizen(AN_ACCOUNT), supply.id, note="Đã bổ sung")
    assert await _status(db, d.id) == "in_processing"
    [decide2] = [w for w in await _items(db, d.id) if w.status == "open"]
    assert decide2.task_name == "decide_review" and decide2.id != decide.id

    await worklist.claim(db, HOTICH, decide2.id)
    other = official("BTP", "civil_status_officer", "00004")
    with pytest.raises(Conflict):
        await worklist.act(db, runtime, other, decide2.id, "approve")  # claimed by a colleague
    await worklist.act(db, runtime, HOTICH, decide2.id, "approve")
    assert await _status(db, d.id) == "result_issued"
    async with db.uow(readonly=True) as uow:
        inst = await workflow.instance_for(uow, dossier_id=d.id)
        sent = (
            await uow.session.execute(
                text("SELECT count(*) FROM outbox_messages WHERE topic = 'notify.send'")
            )
        ).scalar()
    assert inst.status == "completed"
    assert sent and sent >= 1


async def test_reject_with_reason_ends_the_dossier(runtime: Runtime, families: Database) -> None:
    db = runtime.db
    await _deploy(db, "marriage_registration")
    d = await _submit(runtime, "marriage-registration")
    [receive] = await _items(db, d.id)
    await worklist.act(db, runtime, ONE_STOP, receive.id, "reject", reason="Không thuộc thẩm quyền")
    assert await _status(db, d.id) == "rejected"
    assert all(w.status != "open" for w in await _items(db, d.id))


async def _colleague(rt: Runtime, username: str, agency: str, role: str, unit: str) -> str:
    """A real official account (the assignee must be one); its ref, as the queue names it."""

    ctx = IdentityContext(db=rt.db, secret=rt.secret, issuer=rt.settings.issuer)
    account = await id_service.add_official(
        ctx,
        SYSTEM,
        username=username,
        full_name=f"Cán bộ {username}",
        agency=agency,
        role=role,
        unit=unit,
        password="Mật-khẩu-cán-bộ-2026!",
    )
    return f"official:{account.id}"


async def test_bulk_assignment_is_all_or_nothing(runtime: Runtime, families: Database) -> None:
    db = runtime.db
    await _deploy(db, "birth_registration")
    a, b = await _submit(runtime), await _submit(runtime)
    ia, ib = (await _items(db, a.id))[0], (await _items(db, b.id))[0]
    colleague = await _colleague(runtime, "motcua.dongnghiep", "UBND-00004", "one_stop_officer", "00004")
    with pytest.raises(Forbidden):
        await worklist.assign(db, CUTRU, [ia.id, ib.id], colleague)
    done = await worklist.assign(db, ONE_STOP, [ia.id, ib.id], colleague)
    assert {w.assignee for w in done} == {colleague}
    mine = Principal(
        kind="official",
        account_id=None,
        level=2,
        roles=(RoleGrant("UBND-00004", "one_stop_officer", "00004"),),
    )
    assert await worklist.queue(db, mine, worklist.QueueFilter(status="mine")) == []


async def test_assignment_stays_in_the_unit_and_goes_to_an_eligible_official(
    runtime: Runtime, families: Database
) -> None:
    db = runtime.db
    await _deploy(db, "birth_registration")
    d = await _submit(runtime)
    [item] = await _items(db, d.id)
    assert (item.agency, item.unit) == ("UBND", "00004")
    right = await _colleague(runtime, "motcua.badinh", "UBND-00004", "one_stop_officer", "00004")
    elsewhere = await _colleague(runtime, "motcua.khac", "UBND-26740", "one_stop_officer", "26740")
    other_role = await _colleague(runtime, "hotich.badinh2", "BTP", "civil_status_officer", "00004")
    # An agency admin of another commune has no say over this commune's task.
    admin_elsewhere = official("UBND-26740", "agency_admin", "26740")
    with pytest.raises(Forbidden):
        await worklist.assign(db, admin_elsewhere, [item.id], right)
    # A made-up id, an official of another unit, one without the task's role: refused, nothing changes.
    admin_here = official("UBND-00004", "agency_admin", "00004")
    for bad in ("official:made-up", f"official:{uuid.uuid4()}", elsewhere, other_role, "citizen:x"):
        with pytest.raises(ValidationFailed) as exc:
            await worklist.assign(db, admin_here, [item.id], bad)
        assert [e.loc for e in exc.value.errors] == [("assignee",)]
    [unchanged] = await _items(db, d.id)
    assert (unchanged.status, unchanged.assignee) == ("open", None)
    # The eligible official is offered by name and accepted.
    offered = await worklist.assignees(db, admin_here, [unchanged])
    assert [(o.ref, o.full_name) for o in offered] == [(right, "Cán bộ motcua.badinh")]
    [done] = await worklist.assign(db, admin_here, [item.id], right)
    assert (done.status, done.assignee) == ("claimed", right)


async def test_the_sla_timer_fires_when_the_clock_passes_the_due_date(
    runtime: Runtime, families: Database
) -> None:
    db = runtime.db
    frozen = FrozenClock(datetime(2027, 3, 1, 2, 0, tzinfo=UTC))  # later than the machine's clock
    previous = clock.set_clock(frozen)
    try:
        await _deploy(db, "birth_registration")
        d = await _submit(runtime)
        [item] = await _items(db, d.id)
        assert item.due_at is not None and item.due_at > frozen.now()
        assert (await timers.tick(db, runtime)).timers_fired == 0
        frozen.set(item.due_at - timedelta(seconds=1))
        assert (await timers.tick(db, runtime)).timers_fired == 0
        frozen.set(item.due_at + timedelta(seconds=1))
        assert (await timers.tick(db, runtime)).timers_fired == 1
        assert (await timers.tick(db, runtime)).timers_fired == 0  # once
        [item] = await _items(db, d.id)
        assert item.overdue and item.status == "open"  # late, but still the official's to do
        assert [w.id for w in await worklist.queue(db, ONE_STOP, worklist.QueueFilter(status="overdue"))] == [
            item.id
        ]
        async with db.uow(readonly=True) as uow:
            topics = set((await uow.session.scalars(text("SELECT topic FROM outbox_messages"))).all())
            inst = await uow.session.scalar(
                select(WorkflowInstance).where(WorkflowInstance.dossier_id == d.id)
            )
        assert "eservices.dossier.overdue" in topics
        assert inst is not None and inst.status == "running"
    finally:
        clock.set_clock(previous)


async def test_a_resubmission_through_the_form_completes_the_supplement_task(
    runtime: Runtime, families: Database
) -> None:
    db = runtime.db
    await _deploy(db, "birth_registration")
    d = await _submit(runtime)
    [receive] = await _items(db, d.id)
    await worklist.act(db, runtime, ONE_STOP, receive.id, "supplement", reason="Thiếu giấy tờ")
    # the citizen's form resubmits: the dossier is `submitted` again, the process still waits on them
    async with db.uow() as uow:
        await dossiers.transition(uow, d.id, "submitted", actor=citizen(AN_ACCOUNT))
        await uow.commit()
    assert await worklist.waiting_resubmissions(db) == [d.id]
    await timers.tick(db, runtime)
    [again] = [w for w in await _items(db, d.id) if w.status == "open"]
    assert again.task_name == "receive_review" and again.agency == "UBND"
    assert await worklist.waiting_resubmissions(db) == []
