"""With the registries on the node, a new citizen account is checked in the population registry."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from dgov.identity import Principal
from dgov.identity.context import node_context
from dgov.identity.recovery import register_citizen
from dgov.kernel.errors import ValidationFailed
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
}


async def register(db: Database, **overrides: Any) -> None:
    ctx = node_context(db, secret="s", issuer="http://localhost")
    fields = {
        "id_number": "001195004321",
        "full_name": "pham thi HOA",
        "birth_date": date(1995, 4, 2),
        "sex": "F",
    }
    fields.update(overrides)
    await register_citizen(
        ctx, password="lantern orchard velvet 1987", email=None, phone="0912000099", **fields
    )


async def test_a_registered_person_may_open_an_account(db: Database) -> None:
    await svc.create(RegistriesContext(db), WRITER, "population", PERSON)
    await register(db)  # the name matches without diacritics or case


@pytest.mark.parametrize(
    "overrides",
    [{"full_name": "Phạm Thị Hồng"}, {"birth_date": date(1995, 4, 3), "id_number": "001195004321"}],
)
async def test_details_the_registry_does_not_know_are_refused(
    db: Database, overrides: dict[str, Any]
) -> None:
    await svc.create(RegistriesContext(db), WRITER, "population", PERSON)
    with pytest.raises(ValidationFailed) as exc:
        await register(db, **overrides)
    assert exc.value.errors[0].loc == ("id_number",)


async def test_a_person_missing_from_the_registry_is_refused(db: Database) -> None:
    with pytest.raises(ValidationFailed):
        await register(db)
