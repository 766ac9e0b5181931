"""People and households: who lives with whom, with ages, names and ID numbers consistent."""

from __future__ import annotations

import math
import random
from datetime import date

from dgov.registries import admin_units
from dgov.registries.generate.world import REGISTRIES, Commune, _age_pool, _Permutation8, world
from dgov.registries.id_issuance import Serials, prefix
from dgov.registries.names import names

# The household mix, tuned so that the living population follows the UN age pyramid (the tests check the
# shares of children and of the elderly): cumulative shares of couples with children, elderly couples and
# single parents (the rest live alone); wives' ages; children per couple (cumulative weights of 0–4);
# how often the head's parents are part of the family; how many people living alone are elderly.
HOUSEHOLDS = (0.74, 0.79, 0.86)
WIFE_AGES = (20, 56)
CHILDREN = (4, 18, 64, 88, 100)
WITH_PARENTS = 0.25
OLD_SINGLES = 0.35


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


class Households:
    """Draws households, and holds the counters every record builder shares (nothing else is kept
    between batches)."""

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
        self.enterprises: dict[str, int] = {}  # per province
        self.parcels: dict[str, int] = {}  # per commune
        self.certificates = 0
        self.biz_perm = _Permutation8(seed + 1)
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

    def _place(self, c: Commune) -> str:
        return f"{c.name}, {c.province_name}"
