"""The personal identification number (số định danh cá nhân): 12 digits `PPP G YY NNNNNN`.

PPP is where the birth was registered ("0" + the pre-2025 province code, or a country code for births
registered abroad), G encodes century and sex, YY the birth year. There is no check digit, so the
consistency checks are what a registry can make: known PPP, and G/YY against the recorded birth date
and sex. The rules live in `data/vn_id_number.json` (with their legal source), not in code, so that
another country can bring its own scheme.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any


class IdNumberError(ValueError):
    """`msgid` is an English message id for the translation catalogue."""

    def __init__(self, msgid: str) -> None:
        super().__init__(msgid)
        self.msgid = msgid


@dataclass(frozen=True)
class IdNumber:
    value: str
    place_code: str
    born_abroad: bool
    century: int
    sex: str  # M | F
    birth_year: int
    serial: str


@cache
def rules() -> dict[str, Any]:
    text = (resources.files("dgov.identity") / "data" / "vn_id_number.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def province_codes() -> frozenset[str]:
    return frozenset(p["code"] for p in rules()["birth_registration_provinces"])


def parse_id_number(value: str) -> IdNumber:
    value = value.strip()
    r = rules()
    if len(value) != r["length"] or not value.isascii() or not value.isdigit():
        raise IdNumberError("A personal identification number has exactly 12 digits")
    place = value[:3]
    abroad = r["abroad_codes"]["from"] <= int(place) <= r["abroad_codes"]["to"]
    if place not in province_codes() and not abroad:
        raise IdNumberError("The first three digits are not a known province or country code")
    century, sex = r["century_sex_digit"][value[3]]
    return IdNumber(
        value=value,
        place_code=place,
        born_abroad=abroad,
        century=int(century),
        sex=str(sex),
        birth_year=int(century) + int(value[4:6]),
        serial=value[6:],
    )


def validate_id_number(value: str, *, birth_date: date | None = None, sex: str | None = None) -> IdNumber:
    """Parse and check against the person's recorded birth date and sex; raises IdNumberError."""
    parsed = parse_id_number(value)
    if birth_date is not None and parsed.birth_year != birth_date.year:
        raise IdNumberError("The century digit and birth year in the number do not match the birth date")
    if sex is not None and parsed.sex != sex:
        raise IdNumberError("The sex digit in the number does not match the recorded sex")
    return parsed


def mask(value: str) -> str:
    return value[:3] + "******" + value[-3:] if len(value) == 12 else "*" * len(value)
