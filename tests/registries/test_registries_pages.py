"""Registry pages on SQLite and PostgreSQL: officials search with a purpose and read a record with its
sources, history, diffs, as-of dates and access log; citizens see their data and who read it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from httpx import AsyncClient, Response
from web_support import (
    AN,
    BINH,
    CITIZEN_PASSWORD,
    OFFICIAL_PASSWORD,
    access_rows,
    client_token,
    log_in,
    new_citizen,
    new_official,
    person,
)

from dgov.identity import SYSTEM, Principal, RoleGrant
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock
from dgov.kernel.uow import Database
from dgov.registries import Provenance, RegistriesContext
from dgov.registries import service as svc
from dgov.web.runtime import Runtime

T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội
MOVED = {"street": "5 Lê Lợi", "commune_code": "26734", "province_code": "79"}
OFFICIAL = Principal(kind="official", level=2, roles=(RoleGrant("BCA", "registry_officer", "*"),))
PURPOSE = "Xác minh hồ sơ 000.00.12.H62-260204-0001"


@pytest.fixture
def pg_clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(T0)
    previous = clock.set_clock(frozen)
    yield frozen
    clock.set_clock(previous)


@pytest.fixture
async def pg_people(db: Database, pg_clock: FrozenClock) -> RegistriesContext:
    """An, created on 5 January and moved to Hồ Chí Minh City on 4 February; Bình, never changed."""
    ctx = RegistriesContext(db=db)
    await svc.create(ctx, SYSTEM, "population", person())
    await svc.create(ctx, SYSTEM, "population", person(BINH, "Trần Thị Bình", sex="F"))
    pg_clock.advance(timedelta(days=30))
    await svc.update(
        ctx,
        SYSTEM,
        "population",
        AN,
        {"permanent_address": MOVED},
        merge=True,
        prov=Provenance(
            actor="official:registrar",
            reason="Đăng ký thường trú mới",
            legal_basis="Luật Cư trú 68/2020/QH14",
            dossier_code="000.00.12.H62-260204-0001",
        ),
    )
    pg_clock.advance(timedelta(hours=1))
    return ctx


def text(r: Response) -> str:
    """The page's visible text, whitespace collapsed (labels and values are checked, not markup)."""
    body = re.sub(r"<[^>]+>", " ", r.text)
    return " ".join(html.unescape(body).split())


def location(r: Response) -> tuple[str, dict[str, list[str]]]:
    assert r.status_code == 303, (r.status_code, r.text)
    parts = urlsplit(r.headers["location"])
    return parts.path, parse_qs(parts.query)


async def post(client: AsyncClient, path: str, data: dict[str, str]) -> Response:
    if "csrftoken" not in client.cookies:
        await client.get(path)  # the form's page sets the CSRF cookie
    return await client.post(path, data={**data, "csrftoken": client.cookies["csrftoken"]})


async def test_the_pages_need_a_login(client: AsyncClient) -> None:
    assert location(await client.get("/registries")) == ("/login", {"next": ["/registries"]})
    assert location(await client.get("/my-data")) == ("/login", {"next": ["/my-data"]})
    path, query = location(await client.get(f"/registries/population/{AN}?purpose=x"))
    assert path == "/login" and query["next"] == [f"/registries/population/{AN}?purpose=x"]


async def test_citizens_cannot_search_and_officials_have_no_my_data_page(
    client: AsyncClient, runtime: Runtime, pg_people: RegistriesContext
) -> None:
    await new_citizen(runtime)
    await log_in(runtime, client, AN, CITIZEN_PASSWORD)
    assert (await client.get("/registries")).status_code == 403
    assert (await client.get(f"/registries/population/{AN}?purpose=x")).status_code == 403
    client.cookies.clear()
    await new_official(runtime, "quantri.coquan", role="agency_admin")  # not a reader role
    await log_in(runtime, client, "quantri.coquan", OFFICIAL_PASSWORD)
    assert (await client.get("/registries")).status_code == 403
    client.cookies.clear()
    await new_official(runtime)
    await log_in(runtime, client, "canbo.dancu", OFFICIAL_PASSWORD)
    assert (await client.get("/my-data")).status_code == 403


async def test_an_official_searches_with_a_purpose_and_reads_the_record_with_its_history(
    client: AsyncClient, runtime: Runtime, db: Database, pg_people: RegistriesContext
) -> None:
    await new_official(runtime)
    await log_in(runtime, client, "canbo.dancu", OFFICIAL_PASSWORD)
    form = await client.get("/registries")
    assert form.status_code == 200
    assert "Cơ sở dữ liệu quốc gia về dân cư" in form.text  # the registry chooser, in Vietnamese
    criteria = {"registry": "population", "name": "nguyen van an", "birth_year": "1990"}
    # No purpose: nothing is searched, nothing logged.
    r = await post(client, "/registries", criteria)
    assert r.status_code == 422 and 'id="purpose-error"' in r.text
    assert await access_rows(db, AN) == []
    r = await post(client, "/registries", {**criteria, "registry": "population", "id_number": "12"})
    assert r.status_code == 422 and 'id="id_number-error"' in r.text
    r = await post(client, "/registries", {**criteria, "purpose": PURPOSE})
    assert r.status_code == 200, r.text
    assert "Nguyễn Văn An" in r.text and "Trần Thị Bình" not in r.text
    assert "Ngày sinh" in text(r) and "15/03/1990" in text(r)
    [row] = await access_rows(db, AN)
    assert row.channel == "page" and row.purpose == PURPOSE and row.accessor_name == "Lê Văn Cường · BCA"
    link = html.unescape(re.search(r'href="(/registries/population/[^"]+)"', r.text).group(1))  # type: ignore[union-attr]

    page = await client.get(link)
    assert page.status_code == 200, page.text
    body = text(page)
    # Every field labelled, values readable, each with the registry it comes from.
    for label in ("Họ và tên", "Ngày sinh", "Số định danh cá nhân"):
        assert label in body
    assert "Nam" in body and "15/03/1990" in body and "5 Lê Lợi" in body
    assert "Residence database" in body or "Cơ sở dữ liệu về cư trú" in body  # permanent_address' source
    # History: both versions, who, why, on what basis, and the diff of the address.
    assert "Đăng ký thường trú mới" in body and "Luật Cư trú 68/2020/QH14" in body
    assert "000.00.12.H62-260204-0001" in body and "official:registrar" in body
    assert "1 Phố Đội Cấn" in body  # the old street, in the diff
    assert re.search(r"<del>[^<]*00004[^<]*</del>", page.text) and re.search(
        r"<ins>[^<]*26734[^<]*</ins>", page.text
    )
    # The person's access log, on the official's page: the search and this read.
    assert body.count(PURPOSE) >= 2
    rows = await access_rows(db, AN)
    assert len(rows) == 2 and "history" in rows[-1].fields and "permanent_address" in rows[-1].fields

    # As of a date between the versions: the old address; before the record existed: nothing.
    query = parse_qs(urlsplit(link).query)
    params = {"purpose": query["purpose"][0], "t": query["t"][0]}
    old = await client.get(f"/registries/population/{AN}", params={**params, "as_of": "2026-01-20"})
    assert old.status_code == 200
    shown = text(old).split("History")[0].split("Lịch sử")[0]
    assert "1 Phố Đội Cấn" in shown and "5 Lê Lợi" not in shown
    before = await client.get(f"/registries/population/{AN}", params={**params, "as_of": "2025-12-31"})
    assert (
        before.status_code == 200 and "5 Lê Lợi" not in text(before).split("Lịch sử")[0].split("History")[0]
    )
    bad = await client.get(f"/registries/population/{AN}", params={**params, "as_of": "20/01/2026"})
    assert bad.status_code == 200 and 'id="as_of-error"' in bad.text


async def test_a_record_link_made_elsewhere_asks_for_the_purpose_and_reads_nothing(
    client: AsyncClient, runtime: Runtime, db: Database, pg_people: RegistriesContext
) -> None:
    await new_official(runtime)
    await log_in(runtime, client, "canbo.dancu", OFFICIAL_PASSWORD)
    forged = await client.get(f"/registries/population/{AN}", params={"purpose": "tò mò", "t": "0" * 32})
    assert forged.status_code == 200 and "Nguyễn Văn An" not in forged.text
    assert f'action="/registries/population/{AN}"' in forged.text
    assert await access_rows(db, AN) == []
    r = await post(client, f"/registries/population/{AN}", {"purpose": ""})
    assert r.status_code == 422
    r = await post(client, f"/registries/population/{AN}", {"purpose": PURPOSE})
    path, query = location(r)
    assert path == f"/registries/population/{AN}" and query["purpose"] == [PURPOSE] and query["t"]
    assert "Nguyễn Văn An" in (await client.get(r.headers["location"])).text
    assert len(await access_rows(db, AN)) == 1
    # The ticket is bound to the purpose: changing it in the address is a new, unticketed request.
    changed = await client.get(f"/registries/population/{AN}", params={"purpose": "khác", "t": query["t"][0]})
    assert "Nguyễn Văn An" not in changed.text and len(await access_rows(db, AN)) == 1


async def test_a_citizen_sees_their_data_where_it_came_from_and_who_read_it(
    client: AsyncClient, runtime: Runtime, db: Database, pg_people: RegistriesContext
) -> None:
    await svc.get(
        pg_people,
        OFFICIAL,
        "population",
        AN,
        purpose="Giải quyết hồ sơ khai sinh cho con",
        dossier_code="000.00.12.H62-260204-0009",
        fields=["full_name", "birth_date"],
        accessor_name="Lê Văn Cường · BCA",
    )
    token = await client_token(
        client, runtime, "bhxh-bhyt", ("registry.population.read",), name="Hệ thống BHXH"
    )
    r = await client.get(
        f"/data/population/1/read?key={AN}",
        headers={"Authorization": f"Bearer {token}", "X-Dgov-Purpose": "BHYT"},
    )
    assert r.status_code == 200
    await svc.get(pg_people, OFFICIAL, "population", BINH, purpose="không liên quan")
    await new_citizen(runtime)
    await log_in(runtime, client, AN, CITIZEN_PASSWORD)
    page = await client.get("/my-data")
    assert page.status_code == 200, page.text
    body = text(page)
    assert "Cơ sở dữ liệu quốc gia về dân cư" in body and "Bộ Công an" in body
    assert "Họ và tên" in body and "Nguyễn Văn An" in body and "5 Lê Lợi" in body
    assert "Cơ sở dữ liệu về cư trú" in body  # where the address comes from
    assert "04/02/2026" in body and "05/01/2026" in body  # the address changed; the name never did
    # Who read it: the official (name, agency, fields, purpose, dossier) and the insurance system.
    assert "Lê Văn Cường · BCA" in body and "Giải quyết hồ sơ khai sinh cho con" in body
    assert "000.00.12.H62-260204-0009" in body
    assert "Hệ thống BHXH" in body and "BHYT" in body
    assert "không liên quan" not in body and "Trần Thị Bình" not in body
