"""A synthetic but believable population, streamed into the registries at national scale.

Households are drawn one at a time: a couple with children (sometimes the head's parents), a single
person, an elderly couple or a single parent, living in a commune of a province chosen by population.
Ages follow the UN's age pyramid for Viet Nam, names the real family-name frequencies, and every event
is consistent with the ages (parents older than their children, marriages before the first child,
deaths after the births they witnessed). Each person gets a population record with a valid, unique
personal ID number linked to parents and spouse; households go to the residence registry; births (from
`BIRTH_RECORDS_FROM`), marriages and deaths to civil status; health insurance cards to most people and
every child under 6; diplomas to adults.

Bounded memory and speed: people are generated and written batch by batch (nothing is kept about a person
once the batch is written, only counters), rows are built directly in the engine's column layout (the
same values `engine.row_for` and `columns_for` would give, checked by the tests), and written with one
executemany per batch on SQLite or COPY on PostgreSQL, each batch committed by its own unit of work.
The result depends only on (seed, as_of): every batch has its own seeded random generator and the
counters advance in a fixed order. From `WORKER_FROM` people the batches are built by a worker process
(`python -m dgov.registries.generate --worker`) while this one writes, so both cores work.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import pickle
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any

from faker.providers.address.vi_VN import Provider as ViAddress
from sqlalchemy import func, select

from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import Conflict, FieldError, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database
from dgov.registries import admin_units
from dgov.registries.definitions import registry
from dgov.registries.id_issuance import Serials, prefix
from dgov.registries.models import records
from dgov.registries.names import Pool, names, pool

ACTOR = "system:generate"
# The civil status database holds birth registrations from this year on (older ones are on paper).
BIRTH_RECORDS_FROM = 2000
COLUMNS = (
    "id", "registry", "key", "version", "schema_version", "data", "subject_id", "name_norm", "birth_date",
    "birth_year", "province_code", "commune_code", "deleted", "valid_from", "changed_by", "reason",
    "legal_basis", "dossier_code", "created_at",
)  # fmt: skip
REGISTRIES = ("population", "residence", "civil_status", "health_insurance", "education")
COPY_SQL = f"COPY registry_records ({', '.join(COLUMNS)}) FROM STDIN"
INSERT_SQL = f"INSERT INTO registry_records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608

# The household mix, tuned so that the living population follows the UN age pyramid (the tests check the
# shares of children and of the elderly): cumulative shares of couples with children, elderly couples and
# single parents (the rest live alone); wives' ages; children per couple (cumulative weights of 0–4);
# how often the head's parents are part of the family; how many people living alone are elderly.
HOUSEHOLDS = (0.74, 0.79, 0.86)
WIFE_AGES = (20, 56)
CHILDREN = (4, 18, 64, 88, 100)
WITH_PARENTS = 0.25
OLD_SINGLES = 0.35


@dataclass
class GenerateStats:
    people: int = 0
    seconds: float = 0.0
    records: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """People written per second."""
        return self.people / self.seconds if self.seconds else 0.0


# A record before it becomes a row: registry, key, data, then the search columns
# (subject, folded name, birth date, birth year, province, commune).
Rec = tuple[str, str, dict[str, Any], str | None, str | None, str | None, int | None, str | None, str | None]


# --- the world: reference tables, built once -------------------------------------------------------------


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


# --- people ----------------------------------------------------------------------------------------------


class Person:
    """One synthetic person while their household is being written (then dropped)."""

    __slots__ = (
        "birth", "birth_date", "commune", "death", "ethnicity", "father", "first_child", "fold", "full_name",
        "given", "home", "id_number", "middle", "mother", "sex", "spouse", "surname",
    )  # fmt: skip

    sex: str
    birth: int  # ordinal of the birth date
    birth_date: str  # ISO
    surname: str
    middle: str
    given: str
    full_name: str
    fold: str  # the name as searched (no diacritics, lower case)
    ethnicity: str
    id_number: str
    home: Commune  # where they were born and their hometown
    commune: Commune  # where they live now

    def __init__(self) -> None:
        self.father: Person | None = None
        self.mother: Person | None = None
        self.spouse: Person | None = None
        self.death: int | None = None  # ordinal of the date of death
        self.first_child: int | None = None  # ordinal of the eldest known child's birth


class _Generator:
    """Draws households; holds only counters between batches."""

    def __init__(
        self, seed: int, as_of: date, taken: dict[str, frozenset[str]], only: tuple[str, ...] = ()
    ) -> None:
        self.seed = seed
        self.only = frozenset(only or REGISTRIES)
        self.as_of = as_of
        self.today = as_of.toordinal()
        self.w = world(max(as_of, admin_units.REFORM_DATE))
        self.n = names()
        # Keys already in the registries (a second run into the same database) are skipped.
        self.taken = {name: taken.get(name, frozenset()) for name in REGISTRIES}
        self.serials = Serials(seed, self.taken["population"])
        self.si_perm = _Permutation8(seed)
        self.si_no = 0
        self.households: dict[str, int] = {}
        self.registrations: dict[tuple[str, int, str], int] = {}
        self.diplomas: dict[str, int] = {}
        self.reform = admin_units.REFORM_DATE.toordinal()

    # -- small helpers --

    def _born(self, rng: random.Random, age: float) -> int:
        return self.today - int(age * 365.2425) - rng.randrange(365)

    def _age(self, birth: int) -> int:
        return int((self.today - birth) / 365.2425)

    def _person(
        self,
        rng: random.Random,
        sex: str,
        birth: int,
        home: Commune,
        *,
        surname: str | None = None,
        ethnicity: str | None = None,
    ) -> Person:
        p = Person()
        p.sex = sex
        p.birth = birth
        bd = date.fromordinal(birth)
        p.birth_date = bd.isoformat()
        p.surname = surname or self.n.surnames(home.province).pick(rng)
        p.middle = self.n.middle[sex].pick(rng)
        p.given = self.n.given[sex].pick(rng)
        p.full_name = f"{p.surname} {p.middle} {p.given}"
        p.fold = self.n.fold_name(p.surname, p.middle, p.given)
        p.ethnicity = ethnicity or self.w.ethnicities.pick(rng)
        p.home = home
        p.commune = home
        # Where the birth was registered gives the number's province: the legacy province before the reform.
        if birth < self.reform:
            head = prefix(home.legacy_province, bd, sex)
        else:
            head = prefix(home.province, bd, sex)
        p.id_number = self.serials.next(head)
        return p

    def _origin(self, rng: random.Random, home: Commune) -> Commune:
        # Most adults were born where they live; some moved from elsewhere.
        if rng.random() < 0.8:
            return home
        return self._commune(rng)

    def _commune(self, rng: random.Random) -> Commune:
        cs = self.w.communes[self.w.provinces.pick(rng)]
        return cs[rng.randrange(len(cs))]

    def _alive_at(self, rng: random.Random, age: int) -> bool:
        return rng.random() < 1.0 / (1.0 + math.exp((age - 82) / 6.0))

    # -- households --

    def household(self, rng: random.Random, room: int) -> list[Person]:
        """The people of one household: the head first, the other living members, then relatives who
        died; never more than `room`."""
        home = self._commune(rng)
        kind = rng.random()
        couple, elderly, single_parent = HOUSEHOLDS
        if room >= 2 and kind < couple:
            people = self._couple(rng, home)
        elif room >= 2 and kind < elderly:
            people = self._elderly_couple(rng, home)
        elif room >= 2 and kind < single_parent:
            people = self._single_parent(rng, home)
        else:
            people = self._single(rng, home)
        if len(people) > room:
            people = self._single(rng, home, young=True)
        return people

    def _couple(self, rng: random.Random, home: Commune) -> list[Person]:
        wife_age = int(_age_pool("F", *WIFE_AGES).pick(rng)) + rng.random()
        gap = rng.choice((-2, -1, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 6, 7, 9))
        husband_origin = self._origin(rng, home)
        husband = self._person(rng, "M", self._born(rng, max(wife_age + gap, 20.5)), husband_origin)
        husband.commune = home
        wife = self._person(
            rng,
            "F",
            self._born(rng, wife_age),
            self._origin(rng, home),
            ethnicity=husband.ethnicity if rng.random() < 0.9 else None,
        )
        wife.commune = home
        husband.spouse, wife.spouse = wife, husband
        members = [husband, wife]
        children = []
        k = rng.choices((0, 1, 2, 3, 4), cum_weights=CHILDREN)[0]
        for _ in range(k):
            at_birth = 19.0 + rng.triangular(0.0, 21.0, 6.0)
            age = wife_age - at_birth
            if age < 0 or (age >= 18 and rng.random() > (30.0 - age) / 13.0):
                continue  # not born yet, or grown up and gone
            children.append(age)
        for age in sorted(children, reverse=True):
            sex = "M" if rng.random() < 0.53 else "F"  # sex ratio at birth about 112 [verify]
            child = self._person(
                rng, sex, self._born(rng, age), home, surname=husband.surname, ethnicity=husband.ethnicity
            )
            child.father, child.mother = husband, wife
            wife.first_child = husband.first_child = wife.first_child or child.birth
            members.append(child)
        dead: list[Person] = []
        if rng.random() < WITH_PARENTS:
            members, dead = self._with_parents(rng, husband, members)
        return members + dead

    def _with_parents(
        self, rng: random.Random, head: Person, members: list[Person]
    ) -> tuple[list[Person], list[Person]]:
        """The head's parents: living ones join the household, dead ones are recorded."""
        head_age = (self.today - head.birth) / 365.2425
        father_age = head_age + 22 + rng.random() * 14
        mother_age = father_age - rng.choice((0, 1, 2, 3, 4, 5))
        if father_age > 104:
            return members, []
        origin = head.home
        father = self._person(
            rng, "M", self._born(rng, father_age), origin, surname=head.surname, ethnicity=head.ethnicity
        )
        mother = self._person(rng, "F", self._born(rng, mother_age), self._origin(rng, origin))
        father.commune = mother.commune = head.commune
        father.spouse, mother.spouse = mother, father
        head.father, head.mother = father, mother
        father.first_child = mother.first_child = head.birth
        living, dead = [], []
        for p, age in ((father, father_age), (mother, mother_age)):
            if self._alive_at(rng, int(age)):
                living.append(p)
            else:
                p.death = self._death(rng, p.birth, head.birth)
                dead.append(p)
        return members + living, dead

    def _death(self, rng: random.Random, birth: int, after: int) -> int:
        lo = max(birth + 45 * 365, after + 365, self.today - 20 * 365)
        return lo + rng.randrange(max(self.today - lo, 1))

    def _elderly_couple(self, rng: random.Random, home: Commune) -> list[Person]:
        husband = self._person(
            rng,
            "M",
            self._born(rng, int(_age_pool("M", 58, 95).pick(rng)) + rng.random()),
            self._origin(rng, home),
        )
        wife_age = max(self._age(husband.birth) - rng.choice((0, 1, 2, 3, 4, 5, 6)), 55)
        wife = self._person(
            rng, "F", self._born(rng, wife_age), self._origin(rng, home), ethnicity=husband.ethnicity
        )
        husband.commune = wife.commune = home
        husband.spouse, wife.spouse = wife, husband
        return [husband, wife]

    def _single_parent(self, rng: random.Random, home: Commune) -> list[Person]:
        mother_age = int(_age_pool("F", 24, 55).pick(rng)) + rng.random()
        mother = self._person(rng, "F", self._born(rng, mother_age), self._origin(rng, home))
        mother.commune = home
        members = [mother]
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            age = mother_age - 19.0 - rng.triangular(0.0, 18.0, 6.0)
            if 0 <= age < 22:
                child = self._person(
                    rng,
                    "M" if rng.random() < 0.53 else "F",
                    self._born(rng, age),
                    home,
                    surname=mother.surname,
                    ethnicity=mother.ethnicity,
                )
                child.mother = mother
                members.append(child)
        return members

    def _single(self, rng: random.Random, home: Commune, *, young: bool = False) -> list[Person]:
        sex = "M" if rng.random() < 0.45 else "F"
        old = not young and rng.random() < OLD_SINGLES
        age = int((_age_pool(sex, 62, 100) if old else _age_pool(sex, 18, 40)).pick(rng)) + rng.random()
        person = self._person(rng, sex, self._born(rng, age), self._origin(rng, home))
        person.commune = home
        if not old:
            return [person]
        # Widowed: the spouse who died is recorded too.
        other = "F" if sex == "M" else "M"
        spouse_age = min(age + (3 if other == "M" else -3), 104)
        spouse = self._person(
            rng, other, self._born(rng, spouse_age), self._origin(rng, home), ethnicity=person.ethnicity
        )
        spouse.commune = home
        spouse.death = self._death(rng, spouse.birth, person.birth)
        person.spouse, spouse.spouse = spouse, person
        return [person, spouse]

    # -- records --

    def records(self, rng: random.Random, people: list[Person], out: list[Rec]) -> None:
        """The household's records in the registries asked for. They draw from a random generator of
        their own, so the people are the same whatever registries are written."""
        rng = random.Random(rng.getrandbits(64))  # noqa: S311 - synthetic data, reproducible by design
        only = self.only
        living = [p for p in people if p.death is None]
        home = people[0].commune
        street = self._street(rng, home)
        household_id = self._household_id(home) if living else None
        if "population" in only:
            for p in people:
                self._population(p, street, household_id if p.death is None else None, out)
        if living and "residence" in only:
            self._residence(rng, living, household_id or "", street, out)
        civil, insurance, education = "civil_status" in only, "health_insurance" in only, "education" in only
        for p in people:
            if civil:
                self._civil_status(rng, p, out)
            if p.death is None:
                if insurance:
                    self._health_insurance(rng, p, street, out)
                if education:
                    self._education(rng, p, out)
        for p in people:
            # Spouses point at each other: break the cycles so that reference counting frees a household
            # at once (the generator runs with the cyclic garbage collector paused).
            p.spouse = p.father = p.mother = None

    def _street(self, rng: random.Random, c: Commune) -> str:
        if c.is_rural:
            return f"{'Ấp' if c.province in self.n.southern_provinces else 'Thôn'} {rng.randrange(1, 15)}"
        return f"Số {rng.randrange(1, 300)} {self.w.streets[rng.randrange(len(self.w.streets))]}"

    def _household_id(self, c: Commune) -> str:
        n = self.households.get(c.code, 0) + 1
        while f"{c.code}-{n:07d}" in self.taken["residence"]:
            n += 1
        self.households[c.code] = n
        return f"{c.code}-{n:07d}"

    def _registration(self, c: Commune, year: int, book: str) -> tuple[str, int]:
        key = (c.code, year, book)
        n = self.registrations.get(key, 0) + 1
        while f"{c.code}-{year}-{book}-{n:06d}" in self.taken["civil_status"]:
            n += 1
        self.registrations[key] = n
        return f"{c.code}-{year}-{book}-{n:06d}", n

    def _place(self, c: Commune) -> str:
        return f"{c.name}, {c.province_name}"

    def _population(self, p: Person, street: str, household_id: str | None, out: list[Rec]) -> None:
        c = p.commune
        data: dict[str, Any] = {
            "id_number": p.id_number,
            "surname": p.surname,
            "middle_name": p.middle,
            "given_name": p.given,
            "full_name": p.full_name,
            "birth_date": p.birth_date,
            "sex": p.sex,
            "ethnicity": p.ethnicity,
            "nationality": "VN",
            "hometown": self._place(p.home),
            "birth_place": self._place(p.home),
            "permanent_address": {"street": street, "commune_code": c.code, "province_code": c.province},
        }
        if p.father is not None:
            data["father_id_number"] = p.father.id_number
        if p.mother is not None:
            data["mother_id_number"] = p.mother.id_number
        if p.spouse is not None:
            data["spouse_id_number"] = p.spouse.id_number
        if household_id:
            data["household_id"] = household_id
        if p.death is None:
            data["status"] = "alive"
        else:
            data["status"] = "dead"
            data["death_date"] = date.fromordinal(p.death).isoformat()
        out.append(
            (
                "population",
                p.id_number,
                data,
                p.id_number,
                p.fold,
                p.birth_date,
                int(p.birth_date[:4]),
                c.province,
                c.code,
            )
        )

    def _residence(
        self, rng: random.Random, living: list[Person], household_id: str, street: str, out: list[Rec]
    ) -> None:
        head = living[0]
        formed = (
            max(head.birth, head.spouse.birth if head.spouse else head.birth) + 7000 + rng.randrange(1500)
        )
        registered = min(max(formed, self.today - 30 * 365), self.today - 1)
        c = head.commune
        members = []
        for p in living:
            rel = "head" if p is head else _relationship(head, p)
            since = max(registered, p.birth)
            members.append(
                {
                    "id_number": p.id_number,
                    "full_name": p.full_name,
                    "relationship_to_head": rel,
                    "since": date.fromordinal(since).isoformat(),
                }
            )
        data = {
            "household_id": household_id,
            "residence_type": "permanent",
            "head_id_number": head.id_number,
            "head_full_name": head.full_name,
            "address": {"street": street, "commune_code": c.code, "province_code": c.province},
            "members": members,
            "registered_on": date.fromordinal(registered).isoformat(),
            "authority": {"name": f"Công an {c.name}", "commune_code": c.code},
            "status": "active",
        }
        out.append(
            ("residence", household_id, data, head.id_number, head.fold, None, None, c.province, c.code)
        )

    def _authority(self, c: Commune, on: int) -> dict[str, str]:
        # Before the reform the registering commune belonged to its legacy province.
        province = c.legacy_province if on < self.reform else c.province
        return {"name": f"Ủy ban nhân dân {c.name}", "commune_code": c.code, "province_code": province}

    def _civil_status(self, rng: random.Random, p: Person, out: list[Rec]) -> None:
        birth_year = int(p.birth_date[:4])
        if birth_year >= BIRTH_RECORDS_FROM:
            c = p.home
            registered = min(p.birth + rng.randrange(1, 60), self.today)
            number, n = self._registration(c, birth_year, "KS")
            data: dict[str, Any] = {
                "registration_number": number,
                "event_type": "birth",
                "book_number": f"{(n - 1) // 500 + 1:02d}",
                "entry_number": str(n),
                "id_number": p.id_number,
                "full_name": p.full_name,
                "birth_date": p.birth_date,
                "sex": p.sex,
                "ethnicity": p.ethnicity,
                "nationality": "VN",
                "event_date": p.birth_date,
                "event_place": self._place(c),
                "event_place_commune_code": c.code,
                "registration_date": date.fromordinal(registered).isoformat(),
                "authority": self._authority(c, registered),
                "status": "valid",
            }
            if p.father is not None:
                data["father_id_number"] = p.father.id_number
                data["father_full_name"] = p.father.full_name
            if p.mother is not None:
                data["mother_id_number"] = p.mother.id_number
                data["mother_full_name"] = p.mother.full_name
            self._civil(data, p, out)
        if p.spouse is not None:
            self._marriage(rng, p, out)
        if p.death is not None:
            c = p.commune
            registered = min(p.death + rng.randrange(1, 15), self.today)
            number, n = self._registration(c, date.fromordinal(p.death).year, "KT")
            death = date.fromordinal(p.death).isoformat()
            data = {
                "registration_number": number,
                "event_type": "death",
                "book_number": f"{(n - 1) // 500 + 1:02d}",
                "entry_number": str(n),
                "id_number": p.id_number,
                "full_name": p.full_name,
                "birth_date": p.birth_date,
                "sex": p.sex,
                "event_date": death,
                "event_place": self._place(c),
                "event_place_commune_code": c.code,
                "registration_date": date.fromordinal(registered).isoformat(),
                "authority": self._authority(c, registered),
                "status": "valid",
            }
            if p.spouse is not None and p.spouse.death is None:
                data["requester_id_number"] = p.spouse.id_number
                data["requester_relationship"] = "spouse"
            self._civil(data, p, out)

    def _marriage(self, rng: random.Random, p: Person, out: list[Rec]) -> None:
        """One record per spouse, written when the wife's record is (so both get the same date)."""
        if p.sex != "F":
            return
        husband = p.spouse
        assert husband is not None
        # Married before the first child, at 18 or later for her and 20 or later for him (Law on Marriage).
        earliest = max(p.birth + 18 * 366, husband.birth + 20 * 366)
        latest = min(p.birth + 34 * 365, self.today - 30)
        if p.first_child is not None:
            latest = min(latest, p.first_child - 300)
        married = earliest + rng.randrange(max(latest - earliest, 1))
        c = p.commune
        for me, other in ((p, husband), (husband, p)):
            number, n = self._registration(c, date.fromordinal(married).year, "KH")
            data = {
                "registration_number": number,
                "event_type": "marriage",
                "book_number": f"{(n - 1) // 500 + 1:02d}",
                "entry_number": str(n),
                "id_number": me.id_number,
                "full_name": me.full_name,
                "birth_date": me.birth_date,
                "sex": me.sex,
                "nationality": "VN",
                "event_date": date.fromordinal(married).isoformat(),
                "registration_date": date.fromordinal(married).isoformat(),
                "authority": self._authority(c, married),
                "spouse_id_number": other.id_number,
                "spouse_full_name": other.full_name,
                "status": "valid",
            }
            self._civil(data, me, out)

    def _civil(self, data: dict[str, Any], p: Person, out: list[Rec]) -> None:
        a = data["authority"]
        out.append(
            (
                "civil_status",
                data["registration_number"],
                data,
                p.id_number,
                p.fold,
                p.birth_date,
                int(p.birth_date[:4]),
                a["province_code"],
                a["commune_code"],
            )
        )

    def _health_insurance(self, rng: random.Random, p: Person, street: str, out: list[Rec]) -> None:
        age = self._age(p.birth)
        if age >= 6 and rng.random() > self.w.hi_coverage:
            return
        cat = _hi_category(rng, age)
        level = self.w.hi_levels[cat]
        c = p.commune
        self.si_no += 1
        si_number = f"{c.legacy_province}{self.si_perm(self.si_no):08d}"
        while f"{cat}{level}{c.province}{si_number}" in self.taken["health_insurance"]:
            self.si_no += 1
            si_number = f"{c.legacy_province}{self.si_perm(self.si_no):08d}"
        year = self.as_of.year
        if cat == "TE":
            start = p.birth
            bd = date.fromordinal(p.birth)
            end = date(bd.year + 6, bd.month, min(bd.day, 28)).toordinal() - 1
        else:
            start, end = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
        data: dict[str, Any] = {
            "card_number": f"{cat}{level}{c.province}{si_number}",
            "holder_id_number": p.id_number,
            "social_insurance_number": si_number,
            "full_name": p.full_name,
            "birth_date": p.birth_date,
            "sex": p.sex,
            "beneficiary_category": cat,
            "benefit_level": level,
            "valid_from": date.fromordinal(start).isoformat(),
            "valid_to": date.fromordinal(end).isoformat(),
            "initial_clinic": {"code": c.clinic, "name": f"Trạm Y tế {c.name}", "province_code": c.province},
            "address": f"{street}, {c.name}, {c.province_name}",
            "issued_on": date.fromordinal(start).isoformat(),
            "status": "active",
        }
        out.append(
            (
                "health_insurance",
                data["card_number"],
                data,
                p.id_number,
                p.fold,
                p.birth_date,
                int(p.birth_date[:4]),
                c.province,
                None,
            )
        )

    def _education(self, rng: random.Random, p: Person, out: list[Rec]) -> None:
        age = self._age(p.birth)
        if age < 18:
            return
        born = int(p.birth_date[:4])
        if born < 1940 or rng.random() > (
            0.8 if born >= 1995 else 0.6 if born >= 1980 else 0.4 if born >= 1965 else 0.2
        ):
            return
        c = p.home
        school = {"name": f"Trường THPT {c.name.split(' ', 1)[1]}", "province_code": c.province}
        self._diploma(rng, p, "upper_secondary", born + 18, school, None, out)
        if age < 22 or rng.random() > (0.3 if born >= 1990 else 0.18 if born >= 1975 else 0.08):
            return
        uni, uni_province = self.w.universities[rng.randrange(len(self.w.universities))]
        major = self.w.majors[rng.randrange(len(self.w.majors))]
        level = "engineer" if major.startswith("Kỹ thuật") else "bachelor"
        self._diploma(
            rng,
            p,
            level,
            born + 22 + rng.randrange(2),
            {"name": uni, "province_code": uni_province},
            major,
            out,
        )
        if age >= 26 and rng.random() < 0.1:
            self._diploma(
                rng,
                p,
                "master",
                born + 25 + rng.randrange(3),
                {"name": uni, "province_code": uni_province},
                major,
                out,
            )

    def _diploma(
        self,
        rng: random.Random,
        p: Person,
        level: str,
        year: int,
        school: dict[str, str],
        major: str | None,
        out: list[Rec],
    ) -> None:
        n = self.diplomas.get(level, 0) + 1
        while f"{self.w.diploma_prefixes[level]}{year}{n:08d}" in self.taken["education"]:
            n += 1
        self.diplomas[level] = n
        number = f"{self.w.diploma_prefixes[level]}{year}{n:08d}"
        data: dict[str, Any] = {
            "diploma_number": number,
            "holder_id_number": p.id_number,
            "full_name": p.full_name,
            "birth_date": p.birth_date,
            "sex": p.sex,
            "level": level,
            "school": school,
            "graduation_year": year,
            "issued_on": f"{year}-07-{rng.randrange(10, 29)}",
            "status": "valid",
        }
        if major:
            data["major"] = major
            data["classification"] = rng.choice(
                ("excellent", "very_good", "very_good", "good", "good", "good", "fairly_good", "average")
            )
        out.append(
            (
                "education",
                number,
                data,
                p.id_number,
                p.fold,
                p.birth_date,
                int(p.birth_date[:4]),
                school["province_code"],
                None,
            )
        )


def _relationship(head: Person, p: Person) -> str:
    if p is head.spouse:
        return "spouse"
    if p is head.father or p is head.mother:
        return "parent"
    if head in (p.father, p.mother) or (head.spouse is not None and head.spouse in (p.father, p.mother)):
        return "child"
    return "other_relative"


def _hi_category(rng: random.Random, age: int) -> str:
    if age < 6:
        return "TE"
    if age < 18:
        return "HS"
    if age < 23 and rng.random() < 0.4:
        return "SV"
    if age >= 80:
        return "BT"
    if age >= 60:
        return "HT" if rng.random() < 0.4 else "GD"
    r = rng.random()
    return "DN" if r < 0.4 else "HC" if r < 0.48 else "HN" if r < 0.55 else "GD"


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


# --- writing ---------------------------------------------------------------------------------------------


class _Writer:
    """Turns records into rows of `registry_records` and writes a batch in one statement: executemany on
    SQLite, COPY on PostgreSQL, through the unit of work's own connection and transaction."""

    def __init__(self, dialect: str, now: datetime, reason: str) -> None:
        self.dialect = dialect
        self.now = now
        self.reason = reason
        self.schema_versions = {name: registry(name).version for name in REGISTRIES}
        # UUIDv7-shaped ids: the time prefix of one fresh id, a counter in the low bits (still unique,
        # still time-ordered, and no per-row clock or random call).
        self.base = new_id().int & ~((1 << 40) - 1)
        self.next_id = 0

    def prepare(self, recs: list[Rec]) -> Any:
        """The batch in the driver's format: parameter tuples for SQLite, COPY text for PostgreSQL."""
        base, sv, dumps = self.base + self.next_id, self.schema_versions, _dumps
        self.next_id += len(recs)
        if self.dialect != "postgresql":
            now = self.now.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
            return [
                (
                    f"{base + i:032x}",
                    r[0],
                    r[1],
                    1,
                    sv[r[0]],
                    dumps(r[2]),
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    r[8],
                    0,
                    now,
                    ACTOR,
                    self.reason,
                    None,
                    None,
                    now,
                )
                for i, r in enumerate(recs)
            ]
        now = self.now.astimezone(UTC).isoformat()
        tail = f"f\t{now}\t{ACTOR}\t{_copy_text(self.reason)}\t{NULL}\t{NULL}\t{now}\n"
        return "".join(
            f"{base + i:032x}\t{r[0]}\t{r[1]}\t1\t{sv[r[0]]}\t{dumps(r[2]).replace(BS, BS2)}\t"
            f"{r[3] or NULL}\t{r[4] or NULL}\t{r[5] or NULL}\t{NULL if r[6] is None else r[6]}\t"
            f"{r[7] or NULL}\t{r[8] or NULL}\t{tail}"
            for i, r in enumerate(recs)
        )

    async def store(self, session: Any, payload: Any) -> None:
        conn = await session.connection()
        raw = (await conn.get_raw_connection()).driver_connection
        if self.dialect == "postgresql":
            async with raw.cursor() as cur, cur.copy(COPY_SQL) as copy:
                await copy.write(payload)
            return
        # A bigger page cache for the batch: index pages stay in memory across the batch's inserts.
        previous = (await (await raw.execute("PRAGMA cache_size")).fetchone())[0]
        await raw.execute(f"PRAGMA cache_size={SQLITE_CACHE_KIB}")
        try:
            await raw.executemany(INSERT_SQL, payload)
        finally:
            await raw.execute(f"PRAGMA cache_size={int(previous)}")


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
SQLITE_CACHE_KIB = -262_144  # 256 MiB (negative: KiB, SQLite's convention)


NULL = "\\N"  # NULL in COPY's text format
BS, BS2 = "\\", "\\\\"  # a backslash in JSON text is doubled in COPY's text format


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


# --- the use case ----------------------------------------------------------------------------------------


# Keys already in the registries the generator writes are skipped; beyond this many records the generator
# refuses rather than hold all their keys in memory (generate into an empty or small database).
MAX_EXISTING = 2_000_000


async def _existing_keys(db: Database) -> dict[str, frozenset[str]]:
    async with db.uow(readonly=True) as uow:
        count = await uow.session.scalar(
            select(func.count()).select_from(records).where(records.c.registry.in_(REGISTRIES))
        )
        if not count:
            return {}
        if count > MAX_EXISTING:
            raise Conflict(
                "The registries already hold {count} records; generate into an empty database",
                params={"count": count},
            )
        rows = (
            await uow.session.execute(
                select(records.c.registry, records.c.key).where(records.c.registry.in_(REGISTRIES))
            )
        ).all()
    keys: dict[str, set[str]] = {}
    for name, key in rows:
        keys.setdefault(name, set()).add(key)
    return {name: frozenset(found) for name, found in keys.items()}


# Below this many people the batches are built in process; above, in a worker process (the spawn costs
# about a second).
WORKER_FROM = 100_000


class _Builder:
    """Builds batches in order: the generator's counters make batch k+1 depend on batch k."""

    def __init__(
        self,
        seed: int,
        as_of: date,
        taken: dict[str, frozenset[str]],
        writer: _Writer,
        only: tuple[str, ...] = REGISTRIES,
    ) -> None:
        self.seed = seed
        self.gen = _Generator(seed, as_of, taken, only)
        self.writer = writer

    def build(self, number: int, size: int) -> tuple[int, Any, dict[str, int]]:
        rng = random.Random(f"{self.seed}:{number}")  # noqa: S311 - synthetic data, reproducible by design
        recs: list[Rec] = []
        made = 0
        while made < size:
            household = self.gen.household(rng, size - made)
            self.gen.records(rng, household, recs)
            made += len(household)
        return made, self.writer.prepare(recs), dict(Counter(r[0] for r in recs))


def _worker_main() -> None:
    """`python -m dgov.registries.generate --worker`: read the run's parameters (a pickle) from stdin,
    then write every batch to stdout as a length-prefixed pickle, in order. The pipe gives back-pressure:
    the worker builds batch k+1 while the parent writes batch k, and no further."""
    # Keep the pipe for the frames; anything else written to stdout (a stray print) goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    gc.disable()  # the generator breaks its reference cycles itself
    seed, as_of, taken, writer, only, sizes = pickle.load(sys.stdin.buffer)  # noqa: S301 - from our parent
    builder = _Builder(seed, as_of, taken, writer, only)
    for number, size in enumerate(sizes):
        frame = pickle.dumps(builder.build(number, size), protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(frame).to_bytes(8, "big"))
        out.write(frame)
        out.flush()


async def generate(
    db: Database,
    *,
    people: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    batch: int = 20_000,
    as_of: date | None = None,
    worker: bool | None = None,
    registries: tuple[str, ...] = REGISTRIES,
) -> GenerateStats:
    """Generate and write `people` people (living and dead) with their records. The population is
    reproducible from (seed, as_of); as_of defaults to 1 January of the current year, so the same seed
    gives the same people all year. Keys already in the registries are never reused. `registries`
    limits what is written (e.g. population only, for a benchmark); the people are the same.

    With `worker` (by default from WORKER_FROM people) the batches are built in a worker process while
    this one writes the previous batch, so generation and the database use both cores. Each batch is
    committed by its own unit of work: an interrupted run leaves whole batches."""
    unknown = set(registries) - set(REGISTRIES)
    if unknown:
        raise ValidationFailed(
            errors=[
                FieldError(
                    ("registries",), "The generator does not fill {names}", {"names": ", ".join(unknown)}
                )
            ]
        )
    now = clock.now()
    as_of = as_of or date(now.astimezone(clock.VN_TZ).year, 1, 1)
    async with db.uow(readonly=True) as uow:
        dialect = (await uow.session.connection()).dialect.name
    taken = await _existing_keys(db)
    writer = _Writer(dialect, now, f"Synthetic population (seed {seed}, as of {as_of.isoformat()})")
    stats = GenerateStats()
    sizes = list(_batches(people, batch))
    use_worker = worker if worker is not None else people >= WORKER_FROM

    async def store(made: int, payload: Any, counts: dict[str, int]) -> None:
        async with db.uow() as uow:
            await writer.store(uow.session, payload)
            await uow.commit()
        stats.people += made
        for name, n in counts.items():
            stats.records[name] = stats.records.get(name, 0) + n
        if progress is not None:
            progress(stats.people)

    collecting = gc.isenabled()
    gc.disable()  # millions of short-lived containers: the cyclic collector would only slow us down
    started = time.perf_counter()
    try:
        if use_worker:
            await _run_with_worker(sizes, store, (seed, as_of, taken, writer, registries))
        else:
            builder = _Builder(seed, as_of, taken, writer, registries)
            for number, size in enumerate(sizes):
                await store(*builder.build(number, size))
    finally:
        if collecting:
            gc.enable()
    stats.seconds = time.perf_counter() - started
    async with db.uow() as uow:
        uow.audit(
            AuditEntry(
                actor=ACTOR,
                action="registries.generated",
                object_type="registry",
                object_id="population",
                details={
                    "people": stats.people,
                    "seed": seed,
                    "as_of": as_of.isoformat(),
                    "records": stats.records,
                },
            )
        )
        await uow.commit()
    return stats


async def _run_with_worker(
    sizes: list[int],
    store: Callable[[int, Any, dict[str, int]], Awaitable[None]],
    params: tuple[Any, ...],
) -> None:
    # A plain subprocess rather than multiprocessing: spawn would re-run the caller's __main__ and fork is
    # unsafe in a process with threads (the database driver's).
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dgov.registries.generate",
        "--worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(pickle.dumps((*params, sizes), protocol=pickle.HIGHEST_PROTOCOL))
        await proc.stdin.drain()
        proc.stdin.close()
        for _ in sizes:
            try:
                length = int.from_bytes(await proc.stdout.readexactly(8), "big")
                result = pickle.loads(await proc.stdout.readexactly(length))  # noqa: S301 - our own child
            except asyncio.IncompleteReadError:
                raise RuntimeError(
                    f"the generator's worker process failed (exit {await proc.wait()})"
                ) from None
            await store(*result)
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _batches(total: int, size: int) -> Iterable[int]:
    size = max(1, size)
    for start in range(0, total, size):
        yield min(size, total - start)


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    _worker_main()
