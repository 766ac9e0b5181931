"""Administrative units as versioned data: the 2025 reform's 34 provinces and 3,321 communes, the legacy
units, their effective dates, the old→new conversion, and the idempotent loader on both databases."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dgov.kernel.uow import Database
from dgov.registries import admin_units as au
from dgov.registries.models import admin_units

SHARED = Path("/work/shared/data")
BEFORE, AFTER = date(2025, 6, 30), date(2025, 7, 1)


def test_the_reform_gives_34_provinces_and_3321_communes() -> None:
    provinces = au.provinces(on=AFTER)
    assert len(provinces) == 34
    assert sum(len(au.communes_of(p.code, on=AFTER)) for p in provinces) == 3321
    assert all(u.source for u in au.units())


def test_before_the_reform_there_were_63_provinces_with_districts() -> None:
    provinces = au.provinces(on=BEFORE)
    assert len(provinces) == 63
    communes = [c for p in provinces for c in au.communes_of(p.code, on=BEFORE)]
    assert len(communes) == len({c.code for c in communes}) == 10035
    assert Counter(u.level for u in au.units() if u.valid_on(BEFORE))["district"] == 696


def test_effective_dates_answer_by_date() -> None:
    assert au.province_name("02", on=BEFORE) == "Tỉnh Hà Giang"
    assert au.province_name("02", on=AFTER) is None  # merged into Tuyên Quang
    assert au.province_name("08", on=AFTER) == "Tỉnh Tuyên Quang"
    # Codes are reused: the new ward 00004 took the code of one of its predecessors.
    assert au.commune_name("00004", on=BEFORE) == "Phường Trúc Bạch"
    assert au.commune_name("00004", on=AFTER) == "Phường Ba Đình"
    assert au.province_name("01", on=date(2000, 1, 1)) is None  # earlier versions are not loaded
    assert all(u.valid_to == BEFORE for u in au.units() if u.valid_from < AFTER)


@pytest.mark.skipif(
    not (SHARED / "vn-admin-units.json").exists(), reason="reference snapshot not on this machine"
)
def test_new_units_match_the_independent_snapshot() -> None:
    snapshot = json.loads((SHARED / "vn-admin-units.json").read_text(encoding="utf-8"))
    theirs = {w["Code"]: p["Code"] for p in snapshot for w in p["Wards"]}
    ours = {c.code: p.code for p in au.provinces(on=AFTER) for c in au.communes_of(p.code, on=AFTER)}
    assert len(theirs) == len(ours) == 3321
    # One known difference: Xã Ba Chẽ (Quảng Ninh) is 06970 in the package and in the official conversion
    # table, 06978 in the snapshot.
    assert set(ours) ^ set(theirs) == {"06970", "06978"}
    assert {k: v for k, v in ours.items() if k in theirs} == {k: v for k, v in theirs.items() if k in ours}


def test_convert_legacy_follows_the_official_table() -> None:
    assert au.convert_legacy("00004") == "00004"  # Trúc Bạch → Ba Đình
    assert au.convert_legacy("00013") == "00004"  # Quán Thánh → Ba Đình
    assert au.convert_legacy("99999") is None
    assert au.convert_legacy("31379") == "31378"  # corrected from the official table (data/admin_units.json)
    assert set(au.successors("00556")) >= {"00541"}  # a commune split between two new ones
    bach_long_vi = au.convert_legacy("318")  # an island district without communes → a special zone
    assert bach_long_vi and (au.commune_name(bach_long_vi, on=AFTER) or "").startswith("Đặc khu")


@pytest.mark.skipif(
    not (SHARED / "vn-admin-units-conversion-2025.csv").exists(), reason="official table not on this machine"
)
def test_conversion_agrees_with_the_official_table() -> None:
    official: dict[str, set[str]] = {}
    with (SHARED / "vn-admin-units-conversion-2025.csv").open(encoding="utf-8") as f:
        for row in csv.reader(f):
            if len(row) > 4 and re.fullmatch(r"\d{5}", row[2]) and re.fullmatch(r"\d{5}", row[4]):
                official.setdefault(row[4], set()).add(row[2])
    assert len(official) > 10_000
    disagree = sorted(old for old, new in official.items() if au.convert_legacy(old) not in new)
    # Đặng Xá was split; the package's main successor is Thuận An, the table lists the part given to Phù Đổng.
    assert disagree == ["00556"]
    assert set(au.successors("00556")) & official["00556"]


def test_every_new_commune_has_a_legacy_province_among_its_predecessors() -> None:
    table = json.loads(
        (Path(au.__file__).parent / "data" / "id_number_provinces.json").read_text(encoding="utf-8")
    )
    predecessors = {p["province"]: set(p["predecessor_id_codes"]) for p in table["provinces"]}
    for province in au.provinces(on=AFTER):
        for commune in au.communes_of(province.code, on=AFTER):
            legacy = au.legacy_province_of(commune.code)
            assert legacy and "0" + legacy in predecessors[province.code], commune


async def test_load_is_versioned_and_idempotent(db: Database) -> None:
    async with db.uow() as uow:
        written = await au.load_admin_units(uow.session)
        await uow.commit()
    assert written == len(au.units()) == 34 + 3321 + 63 + 696 + 10035
    async with db.uow() as uow:
        assert await au.load_admin_units(uow.session) == 0
        await uow.commit()
    async with db.uow(readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(admin_units.c.level, admin_units.c.valid_to, func.count()).group_by(
                    admin_units.c.level, admin_units.c.valid_to
                )
            )
        ).all()
        ba_dinh = (
            await uow.session.execute(
                select(admin_units.c.name, admin_units.c.valid_from, admin_units.c.source).where(
                    admin_units.c.code == "00004", admin_units.c.level == "commune"
                )
            )
        ).all()
    counts = {(level, valid_to): n for level, valid_to, n in rows}
    assert counts[("commune", None)] == 3321
    assert counts[("province", None)] == 34
    assert counts[("commune", BEFORE)] == 10035
    assert {(r.name, r.valid_from) for r in ba_dinh} == {
        ("Phường Trúc Bạch", date(2025, 1, 1)),
        ("Phường Ba Đình", AFTER),
    }
    assert all("vietnamadminunits" in r.source for r in ba_dinh)


def _amended() -> dict[str, Any]:
    """The shipped data plus one amendment (test data: Đồng Nai becoming a city on an assumed date)."""
    amended: dict[str, Any] = json.loads(json.dumps(au.metadata()))
    amended["amendments"] = [
        {"code": "75", "level": "province", "name": "Thành phố Đồng Nai", "valid_from": "2026-05-01",
         "source": "test amendment"}
    ]  # fmt: skip
    return amended


@pytest.fixture
def gen_amended(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    amended = _amended()
    au.reload()
    monkeypatch.setattr(au, "metadata", lambda: amended)
    yield
    monkeypatch.undo()
    au.reload()


async def test_an_amendment_closes_the_previous_version(db: Database, gen_amended: None) -> None:
    assert au.province_name("75", on=date(2026, 4, 30)) == "Tỉnh Đồng Nai"
    assert au.province_name("75", on=date(2026, 5, 1)) == "Thành phố Đồng Nai"
    assert len(au.communes_of("75", on=date(2026, 5, 1))) == 95  # its communes still point at code 75
    async with db.uow() as uow:
        await au.load_admin_units(uow.session)
        await uow.commit()
    async with db.uow(readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(admin_units.c.name, admin_units.c.valid_from, admin_units.c.valid_to)
                .where(admin_units.c.code == "75", admin_units.c.level == "province")
                .order_by(admin_units.c.valid_from)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("Tỉnh Đồng Nai", date(2008, 8, 1), BEFORE),
        ("Tỉnh Đồng Nai", AFTER, date(2026, 4, 30)),
        ("Thành phố Đồng Nai", date(2026, 5, 1), None),
    ]


async def test_loading_an_amendment_later_updates_the_table(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with db.uow() as uow:
        await au.load_admin_units(uow.session)
        await uow.commit()
    amended = _amended()
    au.reload()
    monkeypatch.setattr(au, "metadata", lambda: amended)
    try:
        async with db.uow() as uow:
            assert await au.load_admin_units(uow.session) == 2  # one version closed, one added
            await uow.commit()
    finally:
        monkeypatch.undo()
        au.reload()
