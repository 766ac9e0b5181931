"""Text that cannot be stored is refused before anything is written, and edge dates answer 422, not 500
(issue 13, items 1 and 2, and the NUL byte of B): on SQLite and PostgreSQL, through the data API, and in
the validation every import row goes through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from web_support import AN, client_token, person

from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock, SystemClock
from dgov.kernel.uow import Database
from dgov.registries.definitions import registry
from dgov.registries.models import RegistryRecordVersion
from dgov.web.runtime import Runtime

READ, WRITE = "registry.population.read", "registry.population.write"
HEADERS = {"X-Dgov-Purpose": quote("Kiểm thử")}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[FrozenClock]:
    fc = FrozenClock(SystemClock().now().replace(microsecond=0))
    previous = clock.set_clock(fc)
    yield fc
    clock.set_clock(previous)


async def _versions(db: Database) -> int:
    async with db.uow(readonly=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(RegistryRecordVersion)) or 0)


@pytest.mark.parametrize(
    "bad",
    [
        {"full_name": "Nguyễn Văn \ud800"},  # a lone surrogate, as JSON's \u escapes produce it
        {"given_name": "An\x00"},  # NUL: PostgreSQL refuses it, SQLite would keep it
        {
            "permanent_address": {
                "street": "1 Phố\x07 Đội Cấn",
                "commune_code": "00004",
                "province_code": "01",
            }
        },
    ],
)
async def test_unstorable_text_is_refused_and_nothing_is_written(
    client: AsyncClient, runtime: Runtime, db: Database, bad: dict[str, Any]
) -> None:
    token = await client_token(client, runtime, "bca-dancu", (READ, WRITE))
    before = await _versions(db)
    body = json.dumps({"write": {"content": person(**bad)}})  # ensure_ascii: the surrogate travels as \ud800
    r = await client.post(
        "/data/population/1/create",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **HEADERS},
    )
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["loc"][-1] in {"full_name", "given_name", "street"}
    assert await _versions(db) == before
    exists = await client.post(
        "/data/population/1/exists",
        json={"query": {"key": AN}},
        headers={"Authorization": f"Bearer {token}", **HEADERS},
    )
    assert exists.status_code == 200 and exists.json()["answer"]["status"] is False


async def test_a_key_with_a_lone_surrogate_is_422_everywhere(client: AsyncClient, runtime: Runtime) -> None:
    token = await client_token(client, runtime, "bca-dancu", (READ, WRITE))
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **HEADERS}
    body = json.dumps({"query": {"key": "T\ud800"}})
    for path in ("/data/population/1/exists", "/data/population/1/read"):
        r = await client.post(path, content=body, headers=h)
        assert r.status_code == 422, (path, r.text)


@pytest.mark.parametrize("as_of", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-01:00"])
async def test_as_of_at_the_edge_of_the_calendar_is_422(
    client: AsyncClient, runtime: Runtime, as_of: str
) -> None:
    token = await client_token(client, runtime, "bca-dancu", (READ,))
    r = await client.get(
        "/data/population/1/read",
        params={"key": AN, "as_of": as_of},
        headers={"Authorization": f"Bearer {token}", **HEADERS},
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"][-1] == "as_of"


def test_import_rows_go_through_the_same_check() -> None:
    """`dgov registries import` validates each row with Registry.errors: the same refusal, row by row."""
    reg = registry("population")
    assert reg.errors(person()) == []
    errors = reg.errors(person(full_name="Nguyễn\x00Văn An"))
    assert [e.loc for e in errors] == [("full_name",)]
    assert errors[0].message == "This value contains characters that are not allowed"
