"""A parent acts for a child under 14, and every such action names both people."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from dgov.identity import Principal, act_for, audit_by
from dgov.identity.models import Throttle
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock
from dgov.kernel.errors import Forbidden
from dgov.kernel.models import AuditRecord


@dataclass
class Child:
    id: uuid.UUID
    guardian_id: uuid.UUID | None
    birth_date: date


PARENT = Principal(kind="citizen", account_id=uuid.uuid4(), level=2)


@pytest.fixture(autouse=True)
def _now() -> object:
    previous = clock.set_clock(FrozenClock(datetime(2026, 11, 27, tzinfo=UTC)))
    yield
    clock.set_clock(previous)


def test_the_parent_acts_for_the_child_and_the_audit_entry_names_both() -> None:
    child = Child(uuid.uuid4(), PARENT.account_id, date(2016, 9, 1))
    acting = act_for(PARENT, child)
    entry = audit_by(acting, action="eservices.submitted", object_type="dossier", object_id="x")
    assert entry.actor == f"citizen:{PARENT.account_id}"
    assert entry.on_behalf_of == f"citizen:{child.id}"
    plain = audit_by(PARENT, action="eservices.submitted", object_type="dossier", object_id="x")
    assert plain.on_behalf_of is None


def test_nobody_else_acts_for_the_child_nor_after_the_14th_birthday() -> None:
    stranger = Principal(kind="citizen", account_id=uuid.uuid4(), level=2)
    child = Child(uuid.uuid4(), PARENT.account_id, date(2016, 9, 1))
    with pytest.raises(Forbidden):
        act_for(stranger, child)
    grown = Child(uuid.uuid4(), PARENT.account_id, date(2012, 11, 27))  # 14 today
    with pytest.raises(Forbidden):
        act_for(PARENT, grown)


async def test_a_malformed_id_number_at_login_is_audited_and_counted(client: object, db: object) -> None:

    assert isinstance(client, AsyncClient)
    await client.get("/login")
    r = await client.post(
        "/login", data={"id_number": "12ab", "password": "x", "csrftoken": client.cookies["csrftoken"]}
    )
    assert r.status_code == 422
    async with db.uow(readonly=True) as uow:  # type: ignore[attr-defined]
        rows = list(
            await uow.session.scalars(
                select(AuditRecord).where(AuditRecord.action == "identity.login_failed")
            )
        )
        throttle = list(await uow.session.scalars(select(Throttle)))
    assert [r.details["reason"] for r in rows] == ["malformed_id_number"]
    assert throttle and throttle[0].count == 1
