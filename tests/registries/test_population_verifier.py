"""With the registries on the node, a new citizen account is checked in the population registry, and its
activation code goes only to the contacts on file there."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from dgov.identity import Principal
from dgov.identity.context import node_context
from dgov.identity.models import Account
from dgov.identity.recovery import register_citizen
from dgov.kernel.models import OutboxMessage
from dgov.kernel.uow import Database
from dgov.registries import RegistriesContext
from dgov.registries import service as svc

WRITER = Principal(kind="operator", level=2)
PERSON: dict[str, Any] = {
    "id_number": "001195004321",
    "surname": "Phạm",
    "middle_name": "Thị",
    "given_name": "Hoa",
    "full_name": "Phạm Thị Hoa",
    "birth_date": "1995-04-02",
    "sex": "F",
    "nationality": "VN",
    "status": "alive",
    "permanent_address": {"commune_code": "00004", "province_code": "01"},
    "phone": "0912000099",
}


async def register(db: Database, **overrides: Any) -> list[str]:
    """Registers and returns where activation codes were sent (nothing is refused: see identity's tests)."""
    ctx = node_context(db, secret="s", issuer="http://localhost")
    fields = {
        "id_number": "001195004321",
        "full_name": "pham thi HOA",
        "birth_date": date(1995, 4, 2),
        "sex": "F",
    }
    fields.update(overrides)
    await register_citizen(ctx, password="lantern orchard velvet 1987", **fields)
    async with db.uow(readonly=True) as uow:
        rows = await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify.send"))
        return [m.payload["to"] for m in rows]


async def test_a_registered_person_may_open_an_account(db: Database) -> None:
    await svc.create(RegistriesContext(db), WRITER, "population", PERSON)
    assert await register(db) == ["0912000099"]  # the name matches without diacritics or case


@pytest.mark.parametrize(
    "overrides",
    [{"full_name": "Phạm Thị Hồng"}, {"birth_date": date(1995, 4, 3), "id_number": "001195004321"}],
)
async def test_details_the_registry_does_not_know_send_nothing(
    db: Database, overrides: dict[str, Any]
) -> None:
    await svc.create(RegistriesContext(db), WRITER, "population", PERSON)
    assert await register(db, **overrides) == []
    assert await count_accounts(db) == 0


async def test_a_person_missing_from_the_registry_gets_nothing(db: Database) -> None:
    assert await register(db) == []
    assert await count_accounts(db) == 0


async def count_accounts(db: Database) -> int:
    async with db.uow(readonly=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Account)) or 0)
