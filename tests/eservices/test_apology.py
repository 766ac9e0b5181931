"""A late dossier's apology letter, written by the official in the back office and read by the
applicant: the reason and a new working-day date; bad input changes nothing."""

from __future__ import annotations

from datetime import date, timedelta

from httpx import AsyncClient
from test_backoffice import _bundle, _official, csrf

from dgov.eservices import dossiers
from dgov.eservices.models import dossiers as t_dossiers
from dgov.kernel import clock
from dgov.kernel.calendar import default_calendar
from dgov.kernel.uow import Database
from dgov.web.runtime import Runtime


async def _make_late(db: Database, dossier_id: object) -> date:
    """Move the appointment into the past, as if the agencies had sat on the dossier."""
    past = clock.local_today() - timedelta(days=10)
    async with db.uow() as uow:
        await uow.session.execute(
            t_dossiers.update().where(t_dossiers.c.id == dossier_id).values(due_date=past)
        )
        await uow.commit()
    return past


def _next_working_day(after: date) -> date:
    cal = default_calendar()
    d = after + timedelta(days=1)
    while not cal.is_working_day(d):
        d += timedelta(days=1)
    return d


async def test_an_official_writes_the_apology_letter_of_a_late_dossier(
    client: AsyncClient, runtime: Runtime, families: Database
) -> None:
    d = await _bundle(runtime)
    await _official(runtime, client, "hotich.xinloi", "BTP", "civil_status_officer", "00004")
    r = await client.get(f"/can-bo/ho-so/{d.id}")
    assert 'id="apology"' not in r.text  # not late: nothing to apologise for
    old_due = await _make_late(runtime.db, d.id)
    r = await client.get(f"/can-bo/ho-so/{d.id}")
    assert 'id="apology"' in r.text
    token = csrf(r)

    # no reason and a date in the past: field errors, nothing changes
    r = await client.post(
        f"/can-bo/ho-so/{d.id}/xin-loi",
        data={"reason": " ", "new_due": old_due.isoformat(), "csrftoken": token},
    )
    assert r.status_code == 422 and 'href="#reason-apology"' in r.text and 'href="#new_due-apology"' in r.text
    async with runtime.db.uow(readonly=True) as uow:
        assert (await dossiers.get(uow, d.id)).due_date == old_due
        assert not [e for e in await dossiers.events_of(uow, d.id) if e.kind == "apology"]

    new_due = _next_working_day(clock.local_today() + timedelta(days=3))
    r = await client.post(
        f"/can-bo/ho-so/{d.id}/xin-loi",
        data={"reason": "Chờ xác minh thông tin cư trú", "new_due": new_due.isoformat(), "csrftoken": token},
    )
    assert r.status_code == 303
    async with runtime.db.uow(readonly=True) as uow:
        late = await dossiers.get(uow, d.id)
        [letter] = [e for e in await dossiers.events_of(uow, d.id) if e.kind == "apology"]
    assert late.due_date == new_due and not late.is_overdue()
    assert letter.note == "Chờ xác minh thông tin cư trú"
    assert letter.data["old_due"] == old_due.isoformat() and letter.data["new_due"] == new_due.isoformat()
    # once the new date stands, the form is gone
    r = await client.get(f"/can-bo/ho-so/{d.id}")
    assert r.status_code == 200 and 'id="apology"' not in r.text


async def test_an_official_of_another_commune_cannot_apologise_for_the_dossier(
    client: AsyncClient, runtime: Runtime, families: Database
) -> None:
    d = await _bundle(runtime)
    await _make_late(runtime.db, d.id)
    # the right agency and role, but another commune (Hoàn Kiếm, 00070)
    await _official(runtime, client, "hotich.hoankiem", "BTP", "civil_status_officer", "00070")
    token = csrf(await client.get("/account"))
    r = await client.post(
        f"/can-bo/ho-so/{d.id}/xin-loi",
        data={
            "reason": "x",
            "new_due": _next_working_day(clock.local_today()).isoformat(),
            "csrftoken": token,
        },
    )
    assert r.status_code in (403, 404)
    async with runtime.db.uow(readonly=True) as uow:
        assert not [e for e in await dossiers.events_of(uow, d.id) if e.kind == "apology"]
