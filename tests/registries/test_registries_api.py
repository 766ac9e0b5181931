"""The GovStack-shaped data API end to end, on SQLite and PostgreSQL: real tokens from dgov's OpenID
provider, scopes, purposes, the access log, versions, as-of reads, readValue, exists and deletion."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import select
from web_support import (
    AN,
    BINH,
    CITIZEN_PASSWORD,
    access_rows,
    client_token,
    identity,
    log_in,
    new_citizen,
    person,
    person_token,
)

from dgov.identity import SYSTEM
from dgov.identity.clients import disable_client
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock, SystemClock
from dgov.kernel.models import AuditRecord
from dgov.kernel.uow import Database
from dgov.registries import RegistriesContext
from dgov.registries import service as svc
from dgov.web.runtime import Runtime

PURPOSE = "Giải quyết hồ sơ khai sinh"
READ = "registry.population.read"
WRITE = "registry.population.write"


@pytest.fixture
def api_clock() -> Iterator[FrozenClock]:
    """Real time standing still until moved: versions get distinct instants, tokens stay valid."""
    frozen = FrozenClock(SystemClock().now().replace(microsecond=0))
    previous = clock.set_clock(frozen)
    yield frozen
    clock.set_clock(previous)


@pytest.fixture
async def api_people(db: Database, api_clock: FrozenClock) -> RegistriesContext:
    ctx = RegistriesContext(db=db)
    await svc.create(ctx, SYSTEM, "population", person())
    await svc.create(ctx, SYSTEM, "population", person(BINH, "Trần Thị Bình", sex="F"))
    return ctx


def bearer(token: str, purpose: str | None = PURPOSE, **extra: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", **extra}
    if purpose is not None:
        headers["X-Dgov-Purpose"] = quote(purpose)  # header values are Latin-1: UTF-8 goes percent-encoded
    return headers


def problem(r: Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


async def test_a_client_with_the_read_scope_reads_a_record_and_the_read_is_logged(
    client: AsyncClient, runtime: Runtime, db: Database, api_people: RegistriesContext
) -> None:
    token = await client_token(client, runtime, "btp-hotich", (READ,), name="Hệ thống hộ tịch Bộ Tư pháp")
    r = await client.get(
        f"/data/population/1/read?key={AN}",
        headers=bearer(token, **{"X-Dgov-Dossier": "000.00.12.H62-260105-0001"}),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["content"]["full_name"] == "Nguyễn Văn An"
    assert body["meta"]["version"] == 1 and body["meta"]["key"] == AN and body["meta"]["deleted"] is False
    [row] = await access_rows(db, AN)
    assert row.channel == "api" and row.accessor_kind == "client" and row.accessor == "client:btp-hotich"
    assert row.accessor_name == "Hệ thống hộ tịch Bộ Tư pháp"
    assert row.purpose == PURPOSE and row.dossier_code == "000.00.12.H62-260105-0001"
    assert "full_name" in row.fields and "permanent_address" in row.fields
    # Only some fields: the answer and the log say the same; GovStack's "1.0" names version 1 too.
    r = await client.get(
        f"/data/population/1.0/read?key={AN}&fields=full_name,birth_date", headers=bearer(token)
    )
    assert r.status_code == 200, r.text
    assert set(r.json()["content"]) == {"full_name", "birth_date"}
    assert ["birth_date", "full_name"] in [row.fields for row in await access_rows(db, AN)]
    # GovStack's POST form of read.
    r = await client.post(
        "/data/population/1/read", json={"query": {"content": {"id_number": BINH}}}, headers=bearer(token)
    )
    assert r.status_code == 200 and r.json()["content"]["full_name"] == "Trần Thị Bình"
    assert len(await access_rows(db, BINH)) == 1


async def test_without_a_token_401_with_a_bad_one_401_without_the_scope_403(
    client: AsyncClient, runtime: Runtime, db: Database, api_people: RegistriesContext
) -> None:
    body = problem(await client.get(f"/data/population/1/read?key={AN}"), 401)
    assert body["code"] == "unauthenticated"
    r = await client.get(f"/data/population/1/read?key={AN}", headers=bearer("not-a-token"))
    problem(r, 401)
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    other = await client_token(client, runtime, "bhxh-bhyt", ("registry.health_insurance.read",))
    r = await client.get(f"/data/population/1/read?key={AN}", headers=bearer(other))
    assert problem(r, 403)["code"] == "forbidden"
    assert 'scope="registry.population.read"' in r.headers["www-authenticate"]
    # A writer that may not read cannot read either, nor can a reader write.
    writer = await client_token(client, runtime, "bca-writer", (WRITE,))
    problem(await client.get(f"/data/population/1/read?key={AN}", headers=bearer(writer)), 403)
    reader = await client_token(client, runtime, "btp-hotich", (READ,))
    r = await client.post(
        "/data/population/1/create",
        json={"write": {"content": person("001090099999")}},
        headers=bearer(reader),
    )
    problem(r, 403)
    assert await access_rows(db, AN) == []  # nothing was read


async def test_a_read_states_its_purpose_and_names_an_existing_registry_version(
    client: AsyncClient, runtime: Runtime, db: Database, api_people: RegistriesContext
) -> None:
    token = await client_token(client, runtime, "btp-hotich", (READ,))
    body = problem(await client.get(f"/data/population/1/read?key={AN}", headers=bearer(token, None)), 422)
    assert body["errors"][0]["loc"] == ["header", "X-Dgov-Purpose"]
    problem(await client.get(f"/data/population/7/read?key={AN}", headers=bearer(token)), 404)
    problem(await client.get(f"/data/population/latest/read?key={AN}", headers=bearer(token)), 404)
    problem(await client.get(f"/data/nope/1/read?key={AN}", headers=bearer(token)), 404)
    problem(await client.get("/data/population/1/read?key=001090000000", headers=bearer(token)), 404)
    assert await access_rows(db, AN) == []


async def test_search_by_folded_name_is_paginated_and_every_person_found_is_logged(
    client: AsyncClient, runtime: Runtime, db: Database, api_people: RegistriesContext
) -> None:
    await svc.create(api_people, SYSTEM, "population", person("001090000001", "Nguyễn Văn Anh"))
    token = await client_token(client, runtime, "btp-hotich", (READ,))
    r = await client.get(
        "/data/population/1/read?name=nguyen van an&birth_year=1990&province=01", headers=bearer(token)
    )
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["count"] == 1 and page["previous"] is None
    assert [x["content"]["id_number"] for x in page["results"]] == [AN]
    r = await client.get("/data/population/1/read?name=NGUYEN VAN*&per_page=1", headers=bearer(token))
    first = r.json()
    assert [x["content"]["full_name"] for x in first["results"]] == ["Nguyễn Văn An"]
    assert first["next"] and "page=2" in first["next"]
    second = (await client.get(first["next"], headers=bearer(token))).json()
    assert [x["content"]["full_name"] for x in second["results"]] == ["Nguyễn Văn Anh"]
    assert second["previous"] and "page=1" in second["previous"]
    assert len(await access_rows(db, AN)) == 2
    assert len(await access_rows(db, "001090000001")) == 1
    assert await access_rows(db, BINH) == []
    problem(await client.get("/data/population/1/read?birth_year=1990", headers=bearer(token)), 422)


async def test_writes_make_versions_read_as_of_any_instant_and_deletion_is_a_version(
    client: AsyncClient, runtime: Runtime, db: Database, api_clock: FrozenClock
) -> None:
    token = await client_token(client, runtime, "bca-dancu", (READ, WRITE), name="Bộ Công an")
    h = bearer(token, **{"X-Dgov-Legal-Basis": "Law on Identification 26/2023/QH15"})
    r = await client.post("/data/population/1/create", json={"write": {"content": person()}}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["meta"]["version"] == 1 and r.json()["meta"]["changed_by"] == "client:bca-dancu"
    problem(
        await client.post("/data/population/1/create", json={"write": {"content": person()}}, headers=h), 409
    )
    bad = await client.post(
        "/data/population/1/create", json={"write": {"content": person("001090000002", sex="X")}}, headers=h
    )
    assert {tuple(e["loc"]) for e in problem(bad, 422)["errors"]} == {("sex",)}
    created_at = clock.now()
    api_clock.advance(timedelta(minutes=1))
    moved = {"permanent_address": {"street": "5 Lê Lợi", "commune_code": "26734", "province_code": "79"}}
    r = await client.put(
        "/data/population/1/update",
        json={"query": {"key": AN}, "write": {"content": moved}},
        headers={
            **h,
            "X-Dgov-Reason": quote("Chuyển hộ khẩu"),
            "X-Dgov-Dossier": "000.00.12.H62-260105-0002",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["meta"]["version"] == 2 and r.json()["content"]["full_name"] == "Nguyễn Văn An"  # merged
    assert r.json()["meta"]["reason"] == "Chuyển hộ khẩu"
    history = await svc.history(RegistriesContext(db=db), SYSTEM, "population", AN, purpose="test")
    assert [v.version for v in history] == [2, 1] and history[0].dossier_code == "000.00.12.H62-260105-0002"
    # As of an instant between the two versions: the old address.
    between = (created_at + timedelta(seconds=30)).isoformat()
    r = await client.get("/data/population/1/read", params={"key": AN, "as_of": between}, headers=h)
    assert r.status_code == 200, r.text
    old = r.json()
    assert old["meta"]["version"] == 1 and old["meta"]["valid_to"] is not None
    assert old["content"]["permanent_address"]["province_code"] == "01"
    # readValue, as json, as text, nested, as of.
    base = f"/data/population/1/{AN}/readValue"
    assert (await client.get(f"{base}/full_name.json", headers=h)).json() == {"value": "Nguyễn Văn An"}
    txt = await client.get(f"{base}/permanent_address.province_code.txt", headers=h)
    assert txt.text == "79" and txt.headers["content-type"].startswith("text/plain")
    r = await client.get(f"{base}/permanent_address.province_code.json", params={"as_of": between}, headers=h)
    assert r.json() == {"value": "01"}
    assert (await client.get(f"/data/population/1/{AN}/read-value/sex.txt", headers=h)).text == "M"
    problem(await client.get(f"{base}/no_such_field.json", headers=h), 404)
    problem(await client.get(f"{base}/death_date.json", headers=h), 404)  # no value
    problem(await client.get(f"{base}/full_name.xml", headers=h), 404)
    # The clock stands still, so rows are told apart by their fields, not their order.
    logged = [row.fields for row in await access_rows(db, AN)]
    assert logged.count(["sex"]) == 1 and logged.count(["death_date"]) == 1  # an absent value was looked at
    # exists, by key (nothing logged) and by name (a search: logged).
    before = len(await access_rows(db, AN))
    r = await client.get(f"/data/population/1/exists?key={AN}", headers=bearer(token, None))
    assert r.json() == {"answer": {"status": True, "message": r.json()["answer"]["message"]}}
    no = await client.post(
        "/data/population/1/exists", json={"query": {"content": {"id_number": BINH}}}, headers=h
    )
    assert no.json()["answer"]["status"] is False
    assert len(await access_rows(db, AN)) == before
    r = await client.get("/data/population/1/exists?name=nguyen van an&birth_year=1990", headers=h)
    assert r.json()["answer"]["status"] is True
    assert len(await access_rows(db, AN)) == before + 1
    # Deletion is a version: gone from reads, kept in history and as-of reads.
    api_clock.advance(timedelta(minutes=1))
    r = await client.delete(f"/data/population/1/{AN}/delete", headers={**h, "X-Dgov-Reason": "duplicate"})
    assert r.status_code == 204, r.text
    problem(await client.get(f"/data/population/1/read?key={AN}", headers=h), 404)
    assert (await client.get(f"/data/population/1/exists?key={AN}", headers=h)).json()["answer"][
        "status"
    ] is False
    r = await client.get("/data/population/1/read", params={"key": AN, "as_of": between}, headers=h)
    assert r.status_code == 200 and r.json()["meta"]["version"] == 1
    history = await svc.history(RegistriesContext(db=db), SYSTEM, "population", AN, purpose="test")
    assert [(v.version, v.deleted) for v in history] == [(3, True), (2, False), (1, False)]
    problem(await client.delete(f"/data/population/1/{AN}/delete", headers=h), 404)
    async with db.uow(readonly=True) as uow:
        actions = list(
            await uow.session.scalars(
                select(AuditRecord.action)
                .where(AuditRecord.actor == "client:bca-dancu", AuditRecord.action.startswith("registries."))
                .order_by(AuditRecord.seq)
            )
        )
    assert actions == ["registries.record_created", "registries.record_updated", "registries.record_deleted"]


async def test_update_or_create_creates_then_updates(
    client: AsyncClient, runtime: Runtime, db: Database, api_clock: FrozenClock
) -> None:
    token = await client_token(client, runtime, "bca-dancu", (READ, WRITE))
    h = bearer(token)
    r = await client.post(
        "/data/population/1/updateOrCreate",
        json={
            "query": {"content": {"id_number": BINH}},
            "write": {"content": person(BINH, "Trần Thị Bình", sex="F")},
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["meta"]["version"] == 1
    api_clock.advance(timedelta(seconds=5))
    # The brief form: the key in the query, the fields directly in write; and GovStack's kebab path.
    r = await client.post(
        "/data/population/1/update-or-create",
        json={"query": {"key": BINH}, "write": {"ethnicity": "Kinh"}},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["meta"]["version"] == 2 and r.json()["content"]["ethnicity"] == "Kinh"
    problem(
        await client.put(
            "/data/population/1/update", json={"write": {"content": {"ethnicity": "Tày"}}}, headers=h
        ),
        422,
    )
    problem(
        await client.put(
            "/data/population/1/update", json={"query": {"key": AN}, "write": {"content": {}}}, headers=h
        ),
        404,
    )


async def test_a_revoked_or_expired_token_stops_working(
    client: AsyncClient, runtime: Runtime, api_people: RegistriesContext, api_clock: FrozenClock
) -> None:
    token = await client_token(client, runtime, "btp-hotich", (READ,))
    assert (await client.get(f"/data/population/1/exists?key={AN}", headers=bearer(token))).status_code == 200
    api_clock.advance(timedelta(minutes=11))  # access tokens live 10 minutes
    problem(await client.get(f"/data/population/1/exists?key={AN}", headers=bearer(token)), 401)

    fresh = await client_token(client, runtime, "bhxh-reader", (READ,))
    assert (await client.get(f"/data/population/1/exists?key={AN}", headers=bearer(fresh))).status_code == 200
    await disable_client(identity(runtime), SYSTEM, "bhxh-reader")
    problem(await client.get(f"/data/population/1/exists?key={AN}", headers=bearer(fresh)), 401)


async def test_a_person_sees_who_read_their_data(
    client: AsyncClient, runtime: Runtime, db: Database, api_people: RegistriesContext
) -> None:
    token = await client_token(client, runtime, "btp-hotich", (READ,), name="Hệ thống hộ tịch Bộ Tư pháp")
    await client.get(f"/data/population/1/read?key={AN}", headers=bearer(token))
    await client.get(f"/data/population/1/read?key={BINH}", headers=bearer(token))
    problem(await client.get("/data/myPersonalDataUsage"), 401)
    problem(await client.get("/data/myPersonalDataUsage", headers=bearer(token)), 403)  # no person behind it
    await new_citizen(runtime)
    await log_in(runtime, client, AN, CITIZEN_PASSWORD)
    r = await client.get("/data/myPersonalDataUsage")
    assert r.status_code == 200, r.text
    [entry] = r.json()
    assert entry["ReaderID"] == "client:btp-hotich" and entry["ReaderKind"] == "client"
    assert entry["ReaderApplicationName"] == "Hệ thống hộ tịch Bộ Tư pháp"
    assert entry["Purpose"] == PURPOSE and entry["Channel"] == "api"
    assert entry["Refrences"] == [{"ReferenceID": AN, "Registry": "population"}]
    assert "full_name" in entry["Fields"]
    assert (await client.get("/data/MyPersonalDataUsage/1.0?DatabaseID=population")).json() == [entry]
    assert (await client.get("/data/myPersonalDataUsage?registry=land")).json() == []
    problem(await client.get(f"/data/myPersonalDataUsage?userID={BINH}"), 403)
    # An application the person authorised with the data-usage scope sees the same log; with only
    # openid it sees nothing.
    app_token = await person_token(client, runtime, "openid my_data_usage")
    client.cookies.clear()
    r = await client.get("/data/myPersonalDataUsage", headers={"Authorization": f"Bearer {app_token}"})
    assert r.status_code == 200, r.text
    assert [e["ID"] for e in r.json()] == [entry["ID"]]
    await log_in(runtime, client, AN, CITIZEN_PASSWORD)
    plain = await person_token(client, runtime, "openid", client_id="app-plain")
    client.cookies.clear()
    problem(await client.get("/data/myPersonalDataUsage", headers={"Authorization": f"Bearer {plain}"}), 403)


async def test_the_api_is_described_in_openapi(client: AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    paths = doc["paths"]
    for path, method in [
        ("/data/{registry}/{version}/create", "post"),
        ("/data/{registry}/{version}/read", "get"),
        ("/data/{registry}/{version}/read", "post"),
        ("/data/{registry}/{version}/exists", "get"),
        ("/data/{registry}/{version}/update", "put"),
        ("/data/{registry}/{version}/updateOrCreate", "post"),
        ("/data/{registry}/{version}/{key}/delete", "delete"),
        ("/data/{registry}/{version}/{key}/readValue/{field_ext}", "get"),
        ("/data/myPersonalDataUsage", "get"),
    ]:
        op = paths[path][method]
        assert op["summary"] and op["description"], path
        assert "401" in op["responses"], path
    assert not any("update-or-create" in p or "read-value" in p or "MyPersonal" in p for p in paths)
    read_params = {p["name"] for p in paths["/data/{registry}/{version}/read"]["get"]["parameters"]}
    assert {
        "key",
        "name",
        "birth_year",
        "birth_date",
        "province",
        "commune",
        "as_of",
        "fields",
        "page",
        "per_page",
        "X-Dgov-Purpose",
    } <= read_params
    assert "OAuth2 bearer" in doc["components"]["securitySchemes"]
