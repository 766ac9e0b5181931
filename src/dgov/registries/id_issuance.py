"""Issuing personal identification numbers (`PPP G YY NNNNNN`) for newborns.

PPP is where the birth is registered: before 1 July 2025, "0" + the legacy 2-digit province code (the rules
in `dgov.identity`'s `vn_id_number.json`); from then on, the table in `data/id_number_provinces.json`, whose
rule for merged provinces is still to be verified, which is why it is data. G encodes century and sex,
YY the birth year, NNNNNN is random and must never collide with a number already issued.

Two ways to get the random part:
- `issue_id_number` / `register_newborn` for one birth at a time: a random serial checked against the
  population registry, retried on a clash; the unique (registry, key) constraint is the final guard
  against two registrations racing for the same number (IntegrityError → retry with another number).
- `Serials` for bulk generation: a seeded permutation of 000000–999999 per prefix, so millions of numbers
  are unique without a database round trip.
"""

from __future__ import annotations

import json
import random
import secrets
import zlib
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dgov.identity import IdNumberError, parse_id_number, validate_id_number
from dgov.kernel.errors import Conflict, FieldError, ValidationFailed
from dgov.kernel.uow import UnitOfWork
from dgov.registries import engine
from dgov.registries.definitions import registry
from dgov.registries.engine import Provenance, RecordView
from dgov.registries.events import publish_change
from dgov.registries.models import records

SERIALS = 1_000_000


@cache
def new_province_table() -> dict[str, Any]:
    text = (resources.files("dgov.registries") / "data" / "id_number_provinces.json").read_text(
        encoding="utf-8"
    )
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _new_codes() -> dict[str, str]:
    return {p["province"]: p["id_code"] for p in new_province_table()["provinces"]}


def _reform_date() -> date:
    return date.fromisoformat(new_province_table()["valid_from"])


def place_code(province: str, registered_on: date) -> str:
    """PPP for a birth registered in `province` (its 2-digit code as it was on `registered_on`)."""
    if registered_on >= _reform_date():
        code = _new_codes().get(province)
    else:
        code = "0" + province if _known_place("0" + province) else None
    if code is None:
        raise ValidationFailed(errors=[FieldError(("province",), "Unknown province code")])
    return code


# The identity domain owns the number's rules (its vn_id_number.json); they are read through its parser.


@cache
def _known_place(code: str) -> bool:
    try:
        parse_id_number(f"{code}000000000")
    except IdNumberError:
        return False
    return True


@cache
def _century_sex() -> dict[tuple[int, str], str]:
    out = {}
    for digit in "0123456789":
        parsed = parse_id_number(f"001{digit}00000000")
        out[(parsed.century, parsed.sex)] = digit
    return out


def prefix(province: str, birth_date: date, sex: str, registered_on: date | None = None) -> str:
    """The first six digits: place, century-and-sex, year."""
    digit = _century_sex().get((birth_date.year // 100 * 100, sex))
    if digit is None:
        raise ValidationFailed(errors=[FieldError(("birth_date",), "This value is not valid")])
    return f"{place_code(province, registered_on or birth_date)}{digit}{birth_date.year % 100:02d}"


async def _taken(session: AsyncSession, number: str) -> bool:
    found = await session.scalar(
        select(records.c.id).where(records.c.registry == "population", records.c.key == number)
    )
    return found is not None


async def issue_id_number(
    session: AsyncSession,
    *,
    province: str,
    birth_date: date,
    sex: str,
    registered_on: date | None = None,
    rng: random.Random | None = None,
    attempts: int = 50,
) -> str:
    """A number no record of the population registry holds (at the time of the check)."""
    head = prefix(province, birth_date, sex, registered_on)
    draw = rng.randrange if rng is not None else secrets.randbelow
    for _ in range(attempts):
        number = f"{head}{draw(SERIALS):06d}"
        if not await _taken(session, number):
            validate_id_number(number, birth_date=birth_date, sex=sex)
            return number
    raise Conflict("Could not issue a personal identification number; try again")


async def register_newborn(
    target: UnitOfWork | AsyncSession,
    data: dict[str, Any],
    prov: Provenance,
    now: datetime,
    *,
    province: str,
    registered_on: date | None = None,
    rng: random.Random | None = None,
    attempts: int = 20,
) -> RecordView:
    """Create the child's population record with a freshly issued number. Each attempt runs in a
    SAVEPOINT: if another registration took the same number between our check and our insert, the
    unique constraint rejects ours and we retry with another number.

    Pass the unit of work (not only its session): the `registries.record_changed` event ("created",
    with the child's data) is then queued in it, to be committed with the record. Given a bare session,
    no event is published."""
    session = target.session if isinstance(target, UnitOfWork) else target
    reg = registry("population")
    born = date.fromisoformat(str(data["birth_date"]))
    for _ in range(attempts):
        number = await issue_id_number(
            session,
            province=province,
            birth_date=born,
            sex=str(data["sex"]),
            registered_on=registered_on,
            rng=rng,
        )
        try:
            async with session.begin_nested():
                view = await engine.create(session, reg, {**data, "id_number": number}, prov, now)
        except (IntegrityError, Conflict):
            continue
        if isinstance(target, UnitOfWork):
            publish_change(target, view, "created", view.data)
        return view
    raise Conflict("Could not issue a personal identification number; try again")


class Serials:
    """Unique serials for bulk generation: per prefix, a counter run through a seeded permutation of
    000000–999999 (a 4-round Feistel network on two base-1000 halves, a bijection), so numbers look
    random, are reproducible for a seed, and never repeat within a run. `exclude` holds numbers already
    issued (skipped)."""

    def __init__(self, seed: int, exclude: set[str] | frozenset[str] = frozenset()) -> None:
        rng = random.Random(f"dgov-serials:{seed}")  # noqa: S311 - a reproducible shuffle, not a secret
        self._rounds = tuple(tuple(rng.randrange(1000) for _ in range(1000)) for _ in range(4))
        self._seed = seed
        self._state: dict[str, list[int]] = {}  # prefix → [next counter, offset]
        self._exclude = exclude

    def _permute(self, x: int) -> int:
        left, right = divmod(x, 1000)
        for table in self._rounds:
            left, right = right, (left + table[right]) % 1000
        return left * 1000 + right

    def next(self, head: str) -> str:
        state = self._state.get(head)
        if state is None:
            state = self._state[head] = [0, (zlib.crc32(head.encode()) ^ self._seed) % SERIALS]
        while True:
            if state[0] >= SERIALS:
                raise Conflict(
                    "No personal identification numbers left for prefix {prefix}", params={"prefix": head}
                )
            number = f"{head}{self._permute((state[0] + state[1]) % SERIALS):06d}"
            state[0] += 1
            if number not in self._exclude:
                return number
