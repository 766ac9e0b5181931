"""Administrative units as versioned data: provinces, (legacy) districts and communes with effective dates.

The unit lists come from the `vietnamadminunits` package (the 63 legacy provinces with their districts and
communes as they stood on 30 June 2025, the 34 provinces and 3,321 communes from 1 July 2025, and its
old→new conversion data); `data/admin_units.json` adds what the package does not say: effective dates,
sources, later amendments and corrections. The same rows are loaded into `registry_admin_units` and
served from memory by the lookups below, so code lists are never constants in code.

Codes are reused across versions (new commune 00004 "Phường Ba Đình" reuses the code of legacy commune
00004 "Phường Trúc Bạch"), which is why every lookup takes the date it is about.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dgov.kernel import clock
from dgov.registries.models import admin_units

REFORM_DATE = date(2025, 7, 1)  # for callers' defaults only; the data carries its own dates
# What a missing or unreadable code list raises (no package, no data file, a damaged file): pages show a
# bare code then rather than fail.
CODE_LIST_ERRORS: tuple[type[Exception], ...] = (RuntimeError, OSError, sqlite3.Error, KeyError, ValueError)


@dataclass(frozen=True)
class Unit:
    code: str
    level: str  # province | district | commune
    name: str
    parent_code: str | None
    valid_from: date
    valid_to: date | None  # inclusive; None: still in force
    source: str

    def valid_on(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


@cache
def metadata() -> dict[str, Any]:
    text = (resources.files("dgov.registries") / "data" / "admin_units.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _package_dir() -> Path:
    # Located without importing the package: its __init__ loads parser data we do not need.
    spec = importlib.util.find_spec(metadata()["package"])
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the vietnamadminunits package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _query(sql: str) -> list[sqlite3.Row]:
    uri = (_package_dir() / "dataset.db").as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _dates(spec: dict[str, Any], level: str) -> tuple[date, date | None]:
    start = date.fromisoformat(spec["valid_from"][level])
    end = date.fromisoformat(spec["valid_to"]) if spec["valid_to"] else None
    return start, end


def _package_units() -> list[Unit]:
    out: list[Unit] = []
    for spec in metadata()["sets"]:
        src = spec["source"]
        if spec["table"] == "admin_units_legacy":
            rows = _query(
                "SELECT DISTINCT provinceCode, province, districtCode, district, wardCode, ward "
                "FROM admin_units_legacy ORDER BY provinceCode, districtCode, wardCode"
            )
            seen: set[tuple[str, str]] = set()
            for r in rows:
                for level, code, name, parent in (
                    ("province", r["provinceCode"], r["province"], None),
                    ("district", r["districtCode"], r["district"], r["provinceCode"]),
                    ("commune", r["wardCode"], r["ward"], r["districtCode"]),
                ):
                    # Island districts (Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn, Côn Đảo) had no communes.
                    if not code or (level, code) in seen:
                        continue
                    seen.add((level, code))
                    start, end = _dates(spec, level)
                    out.append(Unit(code, level, name, parent, start, end, src))
        else:
            rows = _query(
                "SELECT DISTINCT provinceCode, province, wardCode, ward FROM admin_units "
                "ORDER BY provinceCode, wardCode"
            )
            provinces: set[str] = set()
            for r in rows:
                if r["provinceCode"] not in provinces:
                    provinces.add(r["provinceCode"])
                    start, end = _dates(spec, "province")
                    out.append(Unit(r["provinceCode"], "province", r["province"], None, start, end, src))
                start, end = _dates(spec, "commune")
                out.append(Unit(r["wardCode"], "commune", r["ward"], r["provinceCode"], start, end, src))
    return out


@cache
def units() -> tuple[Unit, ...]:
    """Every version of every unit: the package's sets plus this build's amendments."""
    found = _package_units()
    for a in metadata().get("amendments", []):
        start = date.fromisoformat(a["valid_from"])
        for i, u in enumerate(found):
            # The version in force the day before the amendment ends that day.
            if u.code == a["code"] and u.level == a["level"] and u.valid_on(start - timedelta(days=1)):
                found[i] = Unit(
                    u.code, u.level, u.name, u.parent_code, u.valid_from, start - timedelta(days=1), u.source
                )
        end = date.fromisoformat(a["valid_to"]) if a.get("valid_to") else None
        found.append(Unit(a["code"], a["level"], a["name"], a.get("parent_code"), start, end, a["source"]))
    return tuple(found)


@cache
def _index() -> dict[tuple[str, str], list[Unit]]:
    idx: dict[tuple[str, str], list[Unit]] = defaultdict(list)
    for u in units():
        idx[(u.level, u.code)].append(u)
    return dict(idx)


@cache
def _children() -> dict[str, list[Unit]]:
    idx: dict[str, list[Unit]] = defaultdict(list)
    for u in units():
        if u.parent_code:
            idx[u.parent_code].append(u)
    return dict(idx)


def reload() -> None:
    """Forget what was read (after the data or the package changed, and in tests)."""
    for cached in (metadata, units, _index, _children, _conversion, _legacy_province_of_new_commune):
        cached.cache_clear()


def _today() -> date:
    return clock.now().astimezone(clock.VN_TZ).date()


def unit(level: str, code: str, *, on: date | None = None) -> Unit | None:
    on = on or _today()
    return next((u for u in _index().get((level, code), []) if u.valid_on(on)), None)


def province_name(code: str, *, on: date | None = None) -> str | None:
    found = unit("province", code, on=on)
    return found.name if found else None


def commune_name(code: str, *, on: date | None = None) -> str | None:
    found = unit("commune", code, on=on)
    return found.name if found else None


def provinces(*, on: date | None = None) -> list[Unit]:
    on = on or _today()
    return sorted((u for u in units() if u.level == "province" and u.valid_on(on)), key=lambda u: u.code)


def communes_of(province: str, *, on: date | None = None) -> list[Unit]:
    """The communes of `province` on that date (through its districts before 1 July 2025)."""
    on = on or _today()
    out: list[Unit] = []
    for child in _children().get(province, []):
        if not child.valid_on(on):
            continue
        if child.level == "commune":
            out.append(child)
        elif child.level == "district":
            out += [c for c in _children().get(child.code, []) if c.level == "commune" and c.valid_on(on)]
    return sorted(out, key=lambda u: u.code)


# --- old → new conversion -------------------------------------------------------------------------------


@cache
def _conversion() -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """(old commune code → new commune code, old code → every new commune it was split into).

    Built from the package's converter data, which is keyed by normalised names: the keys are joined to
    the codes in its dataset. A commune split between several new ones maps to the package's default.
    """
    conv = json.loads((_package_dir() / "converter_2025.json").read_text(encoding="utf-8"))
    old_code = {
        f"{r['provinceKey']}_{r['districtKey']}_{r['wardKey'] or ''}": r["wardCode"] or r["districtCode"]
        for r in _query(
            "SELECT provinceKey, districtKey, wardKey, wardCode, districtCode FROM admin_units_legacy"
        )
    }
    new_code = {
        (r["provinceKey"], r["wardKey"]): r["wardCode"]
        for r in _query("SELECT provinceKey, wardKey, wardCode FROM admin_units")
    }
    single: dict[str, str] = {}
    for province, wards in conv["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for ward, olds in wards.items():
            for old in olds:
                if old in old_code:
                    single[old_code[old]] = new_code[(province, ward)]
    split: dict[str, tuple[str, ...]] = {}
    for province, olds in conv["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old, targets in olds.items():
            if old not in old_code:
                continue
            codes = tuple(new_code[(province, t["newWardKey"])] for t in targets)
            split[old_code[old]] = codes
            default = next(
                (t["newWardKey"] for t in targets if t["isDefaultNewWard"]), targets[0]["newWardKey"]
            )
            single.setdefault(old_code[old], new_code[(province, default)])
    for fix in metadata().get("conversion_overrides", []):
        single[fix["old"]] = fix["new"]
    return single, split


def convert_legacy(old_code: str) -> str | None:
    """The commune that replaced legacy commune `old_code` on 1 July 2025 (for a commune split between
    several, the main one; see `successors`). Also takes the code of a legacy island district, which had
    no communes and became a special zone. None for an unknown code."""
    return _conversion()[0].get(old_code)


def successors(old_code: str) -> tuple[str, ...]:
    """Every new commune that took over part of legacy commune `old_code`."""
    single, split = _conversion()
    if old_code in split:
        return split[old_code]
    return (single[old_code],) if old_code in single else ()


@cache
def _legacy_province_of_new_commune() -> dict[str, str]:
    single, split = _conversion()
    district_province = {
        u.code: u.parent_code or ""
        for u in units()
        if u.level == "district" and u.valid_to is not None and u.valid_to < REFORM_DATE
    }
    old_province = {
        u.code: district_province.get(u.parent_code or "", "")
        for u in units()
        if u.level == "commune" and u.valid_to is not None and u.valid_to < REFORM_DATE
    }
    old_province.update(district_province)  # island districts without communes
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for old, new in [*single.items(), *((o, n) for o, ns in split.items() for n in ns)]:
        if old_province.get(old):
            votes[new][old_province[old]] += 1
    out = {}
    for u in units():
        if u.level != "commune" or u.valid_from < REFORM_DATE:
            continue
        # A new commune reuses one predecessor's code: that predecessor's province, else the usual one.
        same = old_province.get(u.code)
        counter = votes.get(u.code)
        if same and (not counter or same in counter):
            out[u.code] = same
        elif counter:
            out[u.code] = counter.most_common(1)[0][0]
    return out


def legacy_province_of(new_commune: str) -> str | None:
    """The pre-2025 province a new commune's territory belonged to (its main predecessor's)."""
    return _legacy_province_of_new_commune().get(new_commune)


# --- loading into registry_admin_units -----------------------------------------------------------------


async def load_admin_units(session: AsyncSession) -> int:
    """Insert the versions the table lacks and close versions an amendment ended; returns the number of
    rows written. Idempotent: a version is identified by (level, code, valid_from)."""
    rows = (
        await session.execute(
            select(
                admin_units.c.id,
                admin_units.c.level,
                admin_units.c.code,
                admin_units.c.valid_from,
                admin_units.c.valid_to,
            )
        )
    ).all()
    have = {
        (r.level, r.code, _as_date(r.valid_from)): (r.id, _as_date(r.valid_to) if r.valid_to else None)
        for r in rows
    }
    new_rows: list[dict[str, Any]] = []
    written = 0
    for u in units():
        key = (u.level, u.code, u.valid_from)
        if key not in have:
            new_rows.append(
                {
                    "code": u.code,
                    "level": u.level,
                    "name": u.name,
                    "parent_code": u.parent_code,
                    "valid_from": u.valid_from,
                    "valid_to": u.valid_to,
                    "source": u.source[:300],
                }
            )
        elif have[key][1] != u.valid_to:
            await session.execute(
                update(admin_units).where(admin_units.c.id == have[key][0]).values(valid_to=u.valid_to)
            )
            written += 1
    for i in range(0, len(new_rows), 5000):
        await session.execute(insert(admin_units), new_rows[i : i + 5000])
    return written + len(new_rows)


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value
