"""The status rules (allowed moves only, by whom), the timeline, withdrawal, messages, rating, the
working-day appointment and the apology letter for an overdue dossier."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from eskit import official

from dgov.eservices import dossiers, dossiers_citizen
from dgov.eservices.dossiers_citizen import Applicant
from dgov.identity import Principal
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock
from dgov.kernel.errors import Conflict, Forbidden, ValidationFailed
from dgov.web.runtime import Runtime

JUDICIAL = {"request": {"form_type": "1", "purpose": "Xin việc", "copies": 1, "delivery": "post"}}
POLICE = official("BCA", "residence_officer", "01")


async def submitted(rt: Runtime, who: Applicant, key: str = "k1") -> dossiers.Dossier:
    return await dossiers_citizen.submit(rt, who, "judicial-record", JUDICIAL, idempotency_key=key)


async def move(
    rt: Runtime, d: dossiers.Dossier, to: str, actor: Principal, note: str | None = None
) -> dossiers.Dossier:
    async with rt.db.uow() as uow:
        out = await dossiers.transition(uow, d.id, to, actor=actor, note=note)
        await uow.commit()
        return out


def test_the_table_covers_every_status_and_final_ones_lead_nowhere() -> None:
    assert set(dossiers.ALLOWED) == set(dossiers.STATUSES)
    for status in dossiers.FINAL:
        assert dossiers.ALLOWED[status] == frozenset()
    for targets in dossiers.ALLOWED.values():
        assert targets <= set(dossiers.STATUSES)


async def test_the_happy_path_and_its_timeline(rt: Runtime, an: Applicant) -> None:
    d = await submitted(rt, an)
    for to in ("received", "in_processing", "approved", "result_issued"):
        d = await move(rt, d, to, POLICE)
    assert d.status == "result_issued" and d.closed_at is not None
    _, events, _ = await dossiers_citizen.follow(rt.db, an.principal, d.id)
    steps = [e.to_status for e in events if e.kind == "status"]
    assert steps == ["submitted", "received", "in_processing", "approved", "result_issued"]


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ((), "approved"),
        ((), "result_issued"),
        (("received",), "result_issued"),
        (("rejected",), "received"),
    ],
)
async def test_illegal_moves_are_refused_and_change_nothing(
    rt: Runtime, an: Applicant, path: tuple[str, ...], illegal: str
) -> None:
    d = await submitted(rt, an)
    for to in path:
        d = await move(rt, d, to, POLICE, note="Thiếu giấy tờ" if to == "rejected" else None)
    with pytest.raises(Conflict):
        await move(rt, d, illegal, POLICE)
    async with rt.db.uow(readonly=True) as uow:
        assert (await dossiers.get(uow, d.id)).status == d.status


async def test_rejection_and_supplement_requests_need_a_reason(rt: Runtime, an: Applicant) -> None:
    d = await submitted(rt, an)
    with pytest.raises(ValidationFailed):
        await move(rt, d, "rejected", POLICE, note="  ")
    d = await move(rt, d, "supplement_requested", POLICE, note="Bổ sung ảnh chân dung")
    assert d.status == "supplement_requested"
    again = await dossiers_citizen.submit(
        rt, an, "judicial-record", JUDICIAL, idempotency_key="k2", draft_id=d.id
    )
    assert again.status == "submitted" and again.code == d.code  # the supplied dossier keeps its code


async def test_who_may_move_a_dossier(rt: Runtime, an: Applicant, cuong: Applicant) -> None:
    d = await submitted(rt, an)
    with pytest.raises(Forbidden):  # the applicant cannot approve their own dossier
        await move(rt, d, "received", an.principal)
    with pytest.raises(Forbidden):  # another citizen cannot withdraw it
        await dossiers_citizen.withdraw(rt.db, cuong.principal, d.id, "")
    with pytest.raises(Forbidden):  # an official of another agency
        await move(rt, d, "received", official("BTP", "civil_status_officer", "01"))
    with pytest.raises(Forbidden):  # the right agency in another province
        await move(rt, d, "received", official("BCA", "residence_officer", "79"))
    assert (await move(rt, d, "received", official("BCA", "residence_officer", "*"))).status == "received"


async def test_withdrawal_by_the_applicant(rt: Runtime, an: Applicant) -> None:
    d = await submitted(rt, an)
    out = await dossiers_citizen.withdraw(rt.db, an.principal, d.id, "Nộp nhầm")
    assert out.status == "withdrawn"
    with pytest.raises(Conflict):
        await dossiers_citizen.withdraw(rt.db, an.principal, d.id, "")


async def test_messages_between_applicant_and_official(rt: Runtime, an: Applicant, cuong: Applicant) -> None:
    d = await submitted(rt, an)
    await dossiers_citizen.post_message(rt.db, an.principal, d.id, "Khi nào có kết quả?", sender_name="An")
    await dossiers_citizen.post_message(rt.db, POLICE, d.id, "Dự kiến đúng hẹn.", sender_name="Cán bộ")
    with pytest.raises(ValidationFailed):
        await dossiers_citizen.post_message(rt.db, an.principal, d.id, "   ", sender_name="An")
    with pytest.raises(Forbidden):
        await dossiers_citizen.post_message(rt.db, cuong.principal, d.id, "xin chào", sender_name="Cường")
    _, _, messages = await dossiers_citizen.follow(rt.db, an.principal, d.id)
    assert [(m.sender_kind, m.body) for m in messages] == [
        ("citizen", "Khi nào có kết quả?"),
        ("official", "Dự kiến đúng hẹn."),
    ]


async def test_rating_only_once_the_dossier_has_ended(rt: Runtime, an: Applicant) -> None:
    d = await submitted(rt, an)
    with pytest.raises(Conflict):
        await dossiers_citizen.rate(rt.db, an.principal, d.id, 5)
    await move(rt, d, "rejected", POLICE, note="Không đủ điều kiện")
    with pytest.raises(ValidationFailed):
        await dossiers_citizen.rate(rt.db, an.principal, d.id, 6)
    rated = await dossiers_citizen.rate(rt.db, an.principal, d.id, 4, "Nhanh")
    assert rated.rating == 4
    with pytest.raises(Conflict):
        await dossiers_citizen.rate(rt.db, an.principal, d.id, 1)


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    fc = FrozenClock(datetime(2026, 8, 28, 3, 0, tzinfo=UTC))  # Friday 28 August 2026, 10:00 in Hà Nội
    old = clock.set_clock(fc)
    yield fc
    clock.set_clock(old)


def test_the_appointment_skips_weekends_and_the_national_day_holiday() -> None:
    # 29-30 Aug weekend, 31 Aug swapped day off, 1-2 Sep National Day: the 3 days are 3, 4 and 7 Sep.
    assert dossiers.due_date(datetime(2026, 8, 28, 3, 0, tzinfo=UTC), 3) == date(2026, 9, 7)
    # Filed on Saturday: received on Thursday 3 Sep, which is not counted.
    assert dossiers.due_date(datetime(2026, 8, 29, 3, 0, tzinfo=UTC), 3) == date(2026, 9, 8)
    # 23:30 UTC on Thursday is already Friday morning in Hà Nội.
    assert dossiers.due_date(datetime(2026, 8, 27, 23, 30, tzinfo=UTC), 1) == date(2026, 9, 3)
    # Zero days: the day of receipt.
    assert dossiers.due_date(datetime(2026, 8, 29, 3, 0, tzinfo=UTC), 0) == date(2026, 9, 3)


async def test_an_overdue_dossier_gets_an_apology_letter_with_a_new_date(
    rt: Runtime, an: Applicant, frozen: FrozenClock
) -> None:
    d = await submitted(rt, an)
    assert d.code and "-260828-" in d.code
    assert d.due_date == date(2026, 9, 16)  # 10 working days: 3, 4, 7-11, 14-16 September
    async with rt.db.uow() as uow:
        with pytest.raises(Conflict):  # not late yet
            await dossiers.apologise(uow, d.id, actor=POLICE, reason="x", new_due=date(2026, 9, 20))
    frozen.set(datetime(2026, 9, 17, 3, 0, tzinfo=UTC))
    async with rt.db.uow(readonly=True) as uow:
        assert [o.id for o in await dossiers.overdue(uow)] == [d.id]
    async with rt.db.uow() as uow:
        with pytest.raises(ValidationFailed):  # a Saturday
            await dossiers.apologise(
                uow, d.id, actor=POLICE, reason="Chờ xác minh", new_due=date(2026, 9, 19)
            )
        with pytest.raises(Forbidden):
            await dossiers.apologise(uow, d.id, actor=an.principal, reason="x", new_due=date(2026, 9, 22))
        late = await dossiers.apologise(
            uow, d.id, actor=POLICE, reason="Chờ kết quả xác minh", new_due=date(2026, 9, 22)
        )
        await uow.commit()
    assert late.due_date == date(2026, 9, 22) and not late.is_overdue(date(2026, 9, 17))
    _, events, _ = await dossiers_citizen.follow(rt.db, an.principal, d.id)
    letter = [e for e in events if e.kind == "apology"]
    assert letter and letter[0].data == {
        "reason": "Chờ kết quả xác minh",
        "old_due": "2026-09-16",
        "new_due": "2026-09-22",
    }


async def test_the_applicant_sees_only_their_own_dossiers(
    rt: Runtime, an: Applicant, cuong: Applicant
) -> None:
    d = await submitted(rt, an)
    assert [x.id for x in await dossiers_citizen.mine(rt.db, an.principal)] == [d.id]
    assert await dossiers_citizen.mine(rt.db, cuong.principal) == []
    with pytest.raises(Forbidden):
        await dossiers_citizen.follow(rt.db, cuong.principal, d.id)
    assert timedelta(0) <= clock.now() - d.created_at
