"""The synthetic population: valid records in every registry it fills, consistent families and events,
unique valid ID numbers, a realistic age pyramid and family names, reproducible from a seed, written on
both databases; and the registries' demo data."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from dgov.identity import validate_id_number
from dgov.kernel import clock
from dgov.kernel.errors import ValidationFailed
from dgov.kernel.models import AuditRecord
from dgov.kernel.uow import Database
from dgov.registries import generate as gen_module
from dgov.registries.definitions import registry
from dgov.registries.demo import AN, BINH, CUONG, KHANG, family_records, load_demo
from dgov.registries.engine import columns_for
from dgov.registries.generate import GenerateStats, generate, run
from dgov.registries.models import records

AS_OF = date(2026, 1, 1)
SEARCH_COLUMNS = ("subject_id", "name_norm", "birth_date", "birth_year", "province_code", "commune_code")


async def _all_records(db: Database) -> list[dict[str, Any]]:
    async with db.uow(readonly=True) as uow:
        rows = (await uow.session.execute(select(records).order_by(records.c.registry, records.c.key))).all()
    return [r._asdict() for r in rows]


def _built(seed: int, people: int, batch: int) -> list[tuple[str, str, dict[str, Any]]]:
    """What the generator produces for a seed, without a database (the in-process builder)."""
    writer = gen_module._Writer("sqlite", clock.now(), "test")
    builder = gen_module._Builder(seed, AS_OF, {}, writer)
    out = []
    for number, size in enumerate(gen_module._batches(people, batch)):
        _, rows, _ = builder.build(number, size)
        out += [(r[1], r[2], json.loads(r[5])) for r in rows]
    return sorted(out, key=lambda t: (t[0], t[1]))


def _digest(items: list[tuple[str, str, dict[str, Any]]]) -> str:
    h = hashlib.sha256()
    for name, key, data in items:
        h.update(f"{name}\t{key}\t{json.dumps(data, sort_keys=True, ensure_ascii=False)}\n".encode())
    return h.hexdigest()


@pytest.fixture
async def gen_population(db: Database) -> tuple[GenerateStats, list[dict[str, Any]]]:
    seen: list[int] = []
    stats = await generate(db, people=500, seed=42, batch=200, as_of=AS_OF, progress=seen.append)
    assert seen == [200, 400, 500]
    return stats, await _all_records(db)


async def test_generated_records_are_valid_and_indexed_like_the_engine_would(
    gen_population: tuple[GenerateStats, list[dict[str, Any]]],
) -> None:
    stats, rows = gen_population
    assert stats.people == 500
    assert Counter(r["registry"] for r in rows) == stats.records
    assert set(stats.records) == {
        "population", "residence", "civil_status", "health_insurance", "social_insurance", "education",
        "business", "land",
    }  # fmt: skip
    for r in rows:
        reg = registry(r["registry"])
        assert reg.errors(r["data"]) == [], (r["registry"], r["key"])
        assert r["key"] == str(r["data"][reg.key_field])
        assert {c: r[c] for c in SEARCH_COLUMNS} == columns_for(reg, r["data"])
        assert r["version"] == 1 and not r["deleted"] and r["changed_by"] == "system:generate"


def _assert_person_consistent(
    people: dict[str, dict[str, Any]], born: dict[str, date], number: str, p: dict[str, Any]
) -> None:
    validate_id_number(number, birth_date=born[number], sex=p["sex"])
    for parent in ("father_id_number", "mother_id_number"):
        if parent in p:
            assert (born[number] - born[p[parent]]).days > 17 * 365, "parents are grown-ups at the birth"
    if "spouse_id_number" in p:
        assert people[p["spouse_id_number"]]["spouse_id_number"] == number
        assert people[p["spouse_id_number"]]["sex"] != p["sex"]
    if p["status"] == "dead":
        assert born[number] < date.fromisoformat(p["death_date"]) < AS_OF
        assert "household_id" not in p


def _assert_event_consistent(people: dict[str, dict[str, Any]], e: dict[str, Any]) -> None:
    assert e["registration_date"] >= e["event_date"]
    if e["event_type"] == "birth":
        assert e["event_date"] == people[e["id_number"]]["birth_date"]
        assert e["event_date"] >= str(gen_module.BIRTH_RECORDS_FROM)
    if e["event_type"] == "death":
        assert e["event_date"] == people[e["id_number"]]["death_date"]
    if e["event_type"] == "marriage":
        me, other = people[e["id_number"]], people[e["spouse_id_number"]]
        wife = me if me["sex"] == "F" else other
        assert e["event_date"] >= _plus_years(wife["birth_date"], 18)


async def test_people_families_and_events_are_consistent(
    gen_population: tuple[GenerateStats, list[dict[str, Any]]],
) -> None:
    _, rows = gen_population
    people = {r["key"]: r["data"] for r in rows if r["registry"] == "population"}
    assert len(people) == 500
    born = {k: date.fromisoformat(p["birth_date"]) for k, p in people.items()}
    for number, p in people.items():
        _assert_person_consistent(people, born, number, p)
    households = {r["key"]: r["data"] for r in rows if r["registry"] == "residence"}
    members = [m for h in households.values() for m in h["members"]]
    assert (
        len(members)
        == len({m["id_number"] for m in members})
        == sum(p["status"] == "alive" for p in people.values())
    )
    for h in households.values():
        assert h["members"][0]["relationship_to_head"] == "head"
        for m in h["members"]:
            assert people[m["id_number"]]["household_id"] == h["household_id"]
            assert people[m["id_number"]]["permanent_address"] == h["address"]
    events = [r["data"] for r in rows if r["registry"] == "civil_status"]
    for e in events:
        _assert_event_consistent(people, e)
    married = Counter(e["id_number"] for e in events if e["event_type"] == "marriage")
    assert set(married) == {k for k, p in people.items() if "spouse_id_number" in p}
    cards = {r["data"]["holder_id_number"]: r["data"] for r in rows if r["registry"] == "health_insurance"}
    for number, p in people.items():
        if p["status"] == "alive" and (AS_OF - born[number]).days < 6 * 365:
            assert cards[number]["beneficiary_category"] == "TE"  # every child under 6
    diplomas = [r["data"] for r in rows if r["registry"] == "education"]
    assert all((AS_OF - born[d["holder_id_number"]]).days >= 18 * 365 for d in diplomas)


async def test_insurance_business_and_land_belong_to_the_right_people(
    gen_population: tuple[GenerateStats, list[dict[str, Any]]],
) -> None:
    _, rows = gen_population
    people = {r["key"]: r["data"] for r in rows if r["registry"] == "population"}
    alive = {k for k, p in people.items() if p["status"] == "alive"}
    age = {k: (AS_OF - date.fromisoformat(p["birth_date"])).days / 365.2425 for k, p in people.items()}
    by = {
        name: [r["data"] for r in rows if r["registry"] == name]
        for name in ("social_insurance", "business", "land")
    }
    assert all(by.values()), {name: len(found) for name, found in by.items()}
    cards = {r["data"]["holder_id_number"]: r["data"] for r in rows if r["registry"] == "health_insurance"}
    for book in by["social_insurance"]:
        holder = book["holder_id_number"]
        assert holder in alive and age[holder] >= 18
        assert (book["full_name"], book["birth_date"]) == (
            people[holder]["full_name"],
            people[holder]["birth_date"],
        )
        # One insurance number: the book's is the one on the person's health insurance card.
        assert cards[holder]["social_insurance_number"] == book["book_number"]
        assert book["total_months"] >= 1
        first = book["contribution_periods"][0]["from"]
        assert first >= f"{int(people[holder]['birth_date'][:4]) + 18}-01", "nobody contributes as a child"
        if book["status"] == "pensioner":
            assert cards[holder]["beneficiary_category"] == "HT"
    for firm in by["business"]:
        owner = firm["representative_id_number"]
        assert owner in alive and 25 <= age[owner] <= 66
        assert firm["representative_name"] == people[owner]["full_name"]
        assert firm["head_office"] == people[owner]["permanent_address"]
        assert firm["registered_on"] <= AS_OF.isoformat()
    for parcel in by["land"]:
        owners = [o["id_number"] for o in parcel["owners"]]
        assert owners[0] == parcel["primary_owner_id_number"] and set(owners) <= alive
        head = people[owners[0]]
        assert parcel["primary_owner_name"] == head["full_name"]
        assert parcel["commune_code"] == head["permanent_address"]["commune_code"]
        if len(owners) == 2:
            assert head["spouse_id_number"] == owners[1]
        assert abs(sum(o["share"] for o in parcel["owners"]) - 1) < 0.001
        assert parcel["certificate"]["issued_on"] >= _plus_years(head["birth_date"], 20)


def _plus_years(iso: str, years: int) -> str:
    return f"{int(iso[:4]) + years:04d}{iso[4:]}"


async def test_generation_is_audited_and_skips_numbers_already_issued(db: Database) -> None:
    first = await generate(db, people=120, seed=5, as_of=AS_OF)
    second = await generate(db, people=120, seed=5, as_of=AS_OF)  # same seed: the same people again…
    assert first.people == second.people == 120
    async with db.uow(readonly=True) as uow:
        count = await uow.session.scalar(
            select(func.count()).select_from(records).where(records.c.registry == "population")
        )
        audited = await uow.session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "registries.generated")
        )
    assert count == 240  # …but with other numbers, never the ones already in the registry
    assert audited == 2


async def test_a_partial_run_writes_the_same_people(db: Database) -> None:
    stats = await generate(db, people=300, seed=12, batch=100, as_of=AS_OF, registries=("population",))
    assert set(stats.records) == {"population"} and stats.records["population"] == 300
    written = [(r["registry"], r["key"], r["data"]) for r in await _all_records(db)]
    assert written == [t for t in _built(seed=12, people=300, batch=100) if t[0] == "population"]
    with pytest.raises(ValidationFailed):
        await generate(db, people=10, seed=1, registries=("taxes",))


def test_same_seed_same_people_other_seed_other_people() -> None:
    a = _built(seed=9, people=1500, batch=500)
    assert a == _built(seed=9, people=1500, batch=500)
    b = _built(seed=10, people=1500, batch=500)
    assert {k for n, k, _ in a if n == "population"} != {k for n, k, _ in b if n == "population"}


def test_the_population_looks_like_viet_nams() -> None:
    people = [d for n, _, d in _built(seed=1, people=12_000, batch=6_000) if n == "population"]
    alive = [p for p in people if p["status"] == "alive"]
    ages = [AS_OF.year - int(p["birth_date"][:4]) for p in alive]
    # UN WPP 2019 for Viet Nam in 2020: 23.2 % under 15, 7.9 % aged 65 or more.
    assert 0.19 < sum(a < 15 for a in ages) / len(ages) < 0.28
    assert 0.05 < sum(a >= 65 for a in ages) / len(ages) < 0.11
    assert 0.46 < sum(p["sex"] == "M" for p in alive) / len(alive) < 0.54
    surnames = Counter(p["surname"] for p in people)
    assert 0.34 < surnames["Nguyễn"] / len(people) < 0.43
    assert surnames.most_common(3)[1][0] == "Trần"
    provinces = Counter(p["permanent_address"]["province_code"] for p in people)
    assert provinces.most_common(1)[0][0] == "79"  # Thành phố Hồ Chí Minh, the most populous
    assert len(provinces) == 34


def test_most_adults_have_a_contact_on_file_and_children_and_the_dead_none() -> None:
    """The phone and e-mail on file are where account activation codes go (issue 12): most living people
    of 14 and over have a mobile number, some an e-mail, the rest activate in person."""
    people = [d for n, _, d in _built(seed=5, people=3000, batch=3000) if n == "population"]
    adults = [p for p in people if p["status"] == "alive" and AS_OF.year - int(p["birth_date"][:4]) >= 15]
    assert 0.78 < sum("phone" in p for p in adults) / len(adults) < 0.92
    assert 0.25 < sum("email" in p for p in adults) / len(adults) < 0.45
    assert sum("phone" not in p and "email" not in p for p in adults) > 0
    assert all(re.fullmatch(r"0[35789][0-9]{8}", p["phone"]) for p in adults if "phone" in p)
    assert all(p["email"].endswith("@example.org") for p in adults if "email" in p)
    young_or_dead = [
        p for p in people if p["status"] != "alive" or AS_OF.year - int(p["birth_date"][:4]) < 13
    ]
    assert young_or_dead and not any("phone" in p or "email" in p for p in young_or_dead)
    phones = [p["phone"] for p in people if "phone" in p]
    assert len(set(phones)) > 0.99 * len(phones)


@pytest.mark.slow
async def test_twenty_thousand_people_through_the_worker_process_are_the_seeds_people(db: Database) -> None:
    stats = await generate(db, people=20_000, seed=77, batch=6_000, as_of=AS_OF, worker=True)
    rows = await _all_records(db)
    assert stats.people == 20_000 and len(rows) == sum(stats.records.values())
    written = [(r["registry"], r["key"], r["data"]) for r in rows]
    assert _digest(written) == _digest(_built(seed=77, people=20_000, batch=6_000))
    step = max(1, len(rows) // 2000)
    for r in rows[::step]:
        assert registry(r["registry"]).errors(r["data"]) == []


async def test_demo_loads_the_demo_families_once(db: Database) -> None:
    await load_demo(db, people=300)
    await load_demo(db, people=300)  # idempotent: nothing written twice, no second population
    rows = await _all_records(db)
    by_key = {(r["registry"], r["key"]): r["data"] for r in rows}
    expected = family_records()
    for name, items in expected.items():
        key_field = registry(name).key_field
        for data in items:
            assert by_key[(name, data[key_field])] == data
    assert Counter(r["registry"] for r in rows)["population"] == 300 + len(expected["population"])
    an = by_key[("population", AN)]
    household = by_key[("residence", an["household_id"])]
    assert [m["id_number"] for m in household["members"]] == [AN, BINH, KHANG]
    assert household["address"]["commune_code"] == "00004"
    assert by_key[("population", KHANG)]["father_id_number"] == AN
    assert by_key[("population", CUONG)]["permanent_address"]["province_code"] == "79"


async def test_a_bulk_load_into_an_empty_registry_builds_its_indexes_afterwards(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setattr(run, "DEFER_INDEXES_FROM", 100)
    dropped: list[str] = []
    build = run._build_indexes

    async def watch(db: Database, indexes: list[Any]) -> None:
        dropped.extend(ix.name for ix in indexes)
        await build(db, indexes)

    monkeypatch.setattr(run, "_build_indexes", watch)
    await generate(db, people=150, seed=3, as_of=AS_OF, registries=("population",))
    assert sorted(dropped) == sorted(run.DEFERRED_INDEXES)

    def index_names(conn: Any) -> set[str]:
        return {ix["name"] for ix in inspect(conn).get_indexes("registry_records")}

    async with db.uow(readonly=True) as uow:
        conn = await uow.session.connection()
        assert set(run.DEFERRED_INDEXES) <= await conn.run_sync(index_names)
        found = await uow.session.scalar(
            select(func.count()).select_from(records).where(records.c.name_norm.is_not(None))
        )
    assert found == 150
    dropped.clear()
    await generate(db, people=150, seed=4, as_of=AS_OF, registries=("population",))
    assert dropped == []  # not into a table that holds records: they stay indexed as they are written
