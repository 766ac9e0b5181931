"""`registries.record_changed`: every create, update, delete and newborn registration queues its event
in the unit of work that makes the change (so it is committed with it, or not at all)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from test_engine import person

from dgov.identity import Principal
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock
from dgov.kernel.errors import Conflict, ValidationFailed
from dgov.kernel.models import OutboxMessage
from dgov.kernel.uow import Database
from dgov.registries import Provenance, RegistriesContext, register_newborn
from dgov.registries import service as svc

WRITER = Principal(kind="operator", level=2)
AN = "001090012345"
PROV = Provenance(
    actor="operator:test", reason="Đăng ký", legal_basis="Luật Căn cước 2023", dossier_code="HS-1"
)


def insurance_book() -> dict[str, Any]:
    return {
        "book_number": "0123456789",
        "holder_id_number": AN,
        "full_name": "Nguyễn Văn An",
        "birth_date": "1990-03-15",
        "sex": "M",
        "scheme": "compulsory",
        "contribution_periods": [{"from": "2015-01", "salary_base": 6_000_000}],
        "status": "contributing",
    }


@pytest.fixture
def ctx(db: Database) -> Any:
    previous = clock.set_clock(FrozenClock(datetime(2026, 3, 1, 2, 0, tzinfo=UTC)))
    yield RegistriesContext(db=db)
    clock.set_clock(previous)


async def events(db: Database) -> list[OutboxMessage]:
    async with db.uow(readonly=True) as uow:
        query = select(OutboxMessage).where(OutboxMessage.topic == "registries.record_changed")
        return list((await uow.session.scalars(query.order_by(OutboxMessage.id))).all())


async def test_create_update_and_delete_each_publish_their_change(ctx: RegistriesContext) -> None:
    await svc.create(ctx, WRITER, "population", person(), prov=PROV)
    [created] = await events(ctx.db)
    assert created.key == AN and created.status == "pending"
    assert created.payload == {
        "registry": "population",
        "key": AN,
        "version": 1,
        "subject_id": AN,
        "change": "created",
        "fields": sorted(person()),
        "dossier_code": "HS-1",
        "legal_basis": "Luật Căn cước 2023",
        "data": person(),
    }

    died = Provenance(actor="operator:test", legal_basis="Luật Hộ tịch 2014", dossier_code="KT-9")
    await svc.update(ctx, WRITER, "population", AN, {"status": "dead"}, prov=died, merge=True)
    updated = (await events(ctx.db))[-1].payload
    assert (updated["change"], updated["version"], updated["fields"]) == ("updated", 2, ["status"])
    assert updated["data"]["status"] == "dead" and updated["dossier_code"] == "KT-9"

    # An update that changes nothing writes no version and says nothing.
    await svc.update(ctx, WRITER, "population", AN, {"status": "dead"}, prov=died, merge=True)
    assert len(await events(ctx.db)) == 2

    await svc.delete(ctx, WRITER, "population", AN, prov=PROV)
    deleted = (await events(ctx.db))[-1].payload
    assert (deleted["change"], deleted["version"], deleted["fields"]) == ("deleted", 3, [])


async def test_a_refused_change_publishes_nothing(ctx: RegistriesContext) -> None:
    await svc.create(ctx, WRITER, "population", person(), prov=PROV)
    with pytest.raises(Conflict):
        await svc.create(ctx, WRITER, "population", person(), prov=PROV)
    with pytest.raises(ValidationFailed):
        await svc.update(ctx, WRITER, "population", AN, {"sex": "X"}, prov=PROV, merge=True)
    assert [e.payload["change"] for e in await events(ctx.db)] == ["created"]


async def test_other_registries_say_what_changed_but_not_the_data(ctx: RegistriesContext) -> None:
    await svc.create(ctx, WRITER, "social_insurance", insurance_book(), prov=PROV)
    [event] = await events(ctx.db)
    assert event.key == AN  # keyed by the person, so a subscriber sees one person's changes in order
    assert event.payload["registry"] == "social_insurance" and event.payload["key"] == "0123456789"
    assert event.payload["subject_id"] == AN and "data" not in event.payload


async def test_a_newborn_registration_publishes_the_birth_in_its_unit_of_work(ctx: RegistriesContext) -> None:
    child = person(given_name="Khang", full_name="Nguyễn Văn Khang", birth_date="2026-02-20")
    del child["id_number"]
    async with ctx.db.uow() as uow:
        view = await register_newborn(uow, child, PROV, clock.now(), province="01", rng=random.Random(3))
        assert await events(ctx.db) == []  # queued, not yet written
        await uow.commit()
    [event] = await events(ctx.db)
    assert event.key == view.key and event.payload["change"] == "created"
    assert event.payload["data"]["id_number"] == view.key and event.payload["subject_id"] == view.key

    # Rolled back: neither the record nor its event.
    async with ctx.db.uow() as uow:
        await register_newborn(uow, child, PROV, clock.now(), province="01", rng=random.Random(4))
        await uow.rollback()
    assert len(await events(ctx.db)) == 1
