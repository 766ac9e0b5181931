"""The world the generator draws from: reference tables built once, and what every part shares."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from faker.providers.address.vi_VN import Provider as ViAddress

from dgov.registries import admin_units
from dgov.registries.names import Pool, pool

ACTOR = "system:generate"
# The civil status database holds birth registrations from this year on (older ones are on paper).
BIRTH_RECORDS_FROM = 2000
REGISTRIES = (
    "population", "residence", "civil_status", "health_insurance", "social_insurance", "education",
    "business", "land",
)  # fmt: skip


# A record before it becomes a row: registry, key, data, then the search columns
# (subject, folded name, birth date, birth year, province, commune).
Rec = tuple[str, str, dict[str, Any], str | None, str | None, str | None, int | None, str | None, str | None]


@dataclass(frozen=True)
class Commune:
    code: str
    name: str
    province: str
    province_name: str
    legacy_province: str
    is_rural: bool
    clinic: str  # 5-digit initial-clinic code: province + commune's rank in it


@dataclass(frozen=True)
class World:
    provinces: Pool  # values are province codes, weighted by population
    communes: dict[str, tuple[Commune, ...]]
    ages: dict[str, list[float]]  # sex → weight of each single year of age 0..104
    ethnicities: Pool
    streets: tuple[str, ...]
    universities: tuple[tuple[str, str], ...]
    majors: tuple[str, ...]
    hi_levels: dict[str, int]
    hi_coverage: float
    diploma_prefixes: dict[str, str]


def _json(name: str) -> Any:
    return json.loads((resources.files("dgov.registries") / "data" / name).read_text(encoding="utf-8"))


@cache
def world(on: date = admin_units.REFORM_DATE) -> World:
    """Provinces (weighted by population) and communes as they are on `on` (not before the 2025 reform:
    people live in today's communes), the age pyramid and the reference lists."""
    population = _json("province_population.json")["provinces"]
    weights = {p["province"]: float(p["population"]) for p in population}
    communes: dict[str, tuple[Commune, ...]] = {}
    for prov in admin_units.provinces(on=on):
        units = admin_units.communes_of(prov.code, on=on)
        communes[prov.code] = tuple(
            Commune(
                code=u.code,
                name=u.name,
                province=prov.code,
                province_name=prov.name,
                legacy_province=admin_units.legacy_province_of(u.code) or prov.code,
                is_rural=u.name.startswith("Xã"),
                clinic=f"{prov.code}{i + 1:03d}",
            )
            for i, u in enumerate(units)
        )
    pyramid = _json("age_pyramid.json")["groups"]
    ages: dict[str, list[float]] = {"M": [0.0] * 105, "F": [0.0] * 105}
    for g in pyramid:
        lo, hi = g["ages"]
        for a in range(lo, hi + 1):
            ages["M"][a] = g["male"] / (hi - lo + 1)
            ages["F"][a] = g["female"] / (hi - lo + 1)
    gen = _json("generator.json")
    eth = {str(n): float(s) for n, s in gen["ethnicities"]["shares"]}
    return World(
        provinces=pool({k: weights[k] for k in communes}),
        communes=communes,
        ages=ages,
        ethnicities=pool(eth),
        streets=tuple(dict.fromkeys(ViAddress.streets)),
        universities=tuple((str(n), str(p)) for n, p in gen["universities"]),
        majors=tuple(gen["majors"]),
        hi_levels={str(k): int(v) for k, v in gen["health_insurance"]["levels"].items()},
        hi_coverage=float(gen["health_insurance"]["coverage"]),
        diploma_prefixes=dict(gen["diploma_prefixes"]),
    )


@cache
def _age_pool(sex: str, lo: int, hi: int) -> Pool:
    w = world().ages[sex]
    return pool({str(a): w[a] for a in range(lo, hi + 1)})


class _Permutation8:
    """A seeded bijection of 0..99,999,999 (Feistel on two base-10,000 halves)."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"dgov-si:{seed}")  # noqa: S311 - a reproducible shuffle, not a secret
        self._rounds = tuple(tuple(rng.randrange(10_000) for _ in range(10_000)) for _ in range(3))

    def __call__(self, x: int) -> int:
        left, right = divmod(x % 100_000_000, 10_000)
        for t in self._rounds:
            left, right = right, (left + t[right]) % 10_000
        return left * 10_000 + right
