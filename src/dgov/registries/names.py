"""Vietnamese names for synthetic people: real family-name frequencies and Faker's vi_VN given names.

Family-name shares (Nguyễn 38.4 %, Trần 11 %, Lê 9.5 %, …) are those of Lê Trung Hoa, "Họ và tên người
Việt Nam" (2005), as cited by Wikipedia's "Vietnamese name"; they live with their source in
`data/names.json`. Given and middle names are Faker's vi_VN lists, read once from the provider class
(calling Faker per person would be far too slow for millions of people).
"""

from __future__ import annotations

import json
import random
from bisect import bisect
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import accumulate
from typing import Any

from faker.providers.person.vi_VN import Provider as ViPerson

from dgov.registries.normalize import fold


@dataclass(frozen=True)
class Pool:
    """Values with cumulative weights, for `random.choices(values, cum_weights=cum)` or `pick`."""

    values: tuple[str, ...]
    cum: tuple[float, ...]

    def pick(self, rng: random.Random) -> str:
        return self.values[bisect(self.cum, rng.random() * self.cum[-1])]

    def picks(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.values, cum_weights=self.cum, k=k)


def pool(weighted: dict[str, float]) -> Pool:
    return Pool(tuple(weighted), tuple(accumulate(weighted.values())))


@dataclass(frozen=True)
class Names:
    surnames_north: Pool
    surnames_south: Pool
    southern_provinces: frozenset[str]
    middle: dict[str, Pool]  # by sex M | F
    given: dict[str, Pool]
    folded: dict[str, str]  # every name part → its search form, so a full name folds without Unicode work

    def surnames(self, province: str) -> Pool:
        return self.surnames_south if province in self.southern_provinces else self.surnames_north

    def fold_name(self, surname: str, middle: str, given: str) -> str:
        f = self.folded
        return f"{f[surname]} {f[middle]} {f[given]}" if middle else f"{f[surname]} {f[given]}"


@cache
def data() -> dict[str, Any]:
    text = (resources.files("dgov.registries") / "data" / "names.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _unique(values: Any) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values))  # Faker's lists repeat a few names


@cache
def names() -> Names:
    fam = data()["family_names"]
    shares: list[tuple[str, float]] = [(str(n), float(s)) for n, s in fam["shares"]]
    rest = (100.0 - sum(s for _, s in shares)) / len(fam["others"])
    shares += [(str(n), rest) for n in fam["others"]]
    north = {n.split("/")[0]: s for n, s in shares}
    south = {n.split("/")[-1]: s for n, s in shares}

    rules = data()["given_names"]
    middles = _unique(ViPerson.middle_names)
    weights = rules.get("weights", {})
    middle = {
        "M": pool({m: float(weights.get(m, 1)) for m in middles if m not in rules["female_only"]}),
        "F": pool({m: float(weights.get(m, 1)) for m in middles if m not in rules["male_only"]}),
    }
    unisex = _unique(ViPerson.first_names_unisex)
    given = {
        "M": pool({g: 1.0 for g in _unique([*ViPerson.first_names_male, *unisex])}),
        "F": pool({g: 1.0 for g in _unique([*ViPerson.first_names_female, *unisex])}),
    }
    parts = {*north, *south, *middles, *given["M"].values, *given["F"].values}
    return Names(
        surnames_north=pool(north),
        surnames_south=pool(south),
        southern_provinces=frozenset(fam["southern_form_provinces"]),
        middle=middle,
        given=given,
        folded={p: fold(p) for p in parts},
    )


def random_name(
    rng: random.Random, *, sex: str, province: str, surname: str | None = None
) -> tuple[str, str, str]:
    """(surname, middle name, given name); a child passes the father's surname."""
    n = names()
    return surname or n.surnames(province).pick(rng), n.middle[sex].pick(rng), n.given[sex].pick(rng)
