"""The 12-digit personal identification number: format, place codes, the century/sex digit and masking.

The century/sex rule is written out here independently of the data file (Circular 07/2016/TT-BCA
Art. 7: 0/1 = male/female born 1900–1999, 2/3 = 2000–2099, and so on per century), so a wrong table in
`vn_id_number.json` fails these tests instead of agreeing with itself.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgov.identity.national_id import (
    IdNumberError,
    mask,
    parse_id_number,
    province_codes,
    validate_id_number,
)

DATA = json.loads(
    (Path(__file__).resolve().parents[2] / "src/dgov/identity/data/vn_id_number.json").read_text("utf-8")
)
PROVINCES = [p["code"] for p in DATA["birth_registration_provinces"]]


def gender_digit(birth: date, sex: str) -> str:
    return str(2 * (birth.year // 100 - 19) + (1 if sex == "F" else 0))


def build(place: str, birth: date, sex: str, serial: str = "012345") -> str:
    return f"{place}{gender_digit(birth, sex)}{birth.year % 100:02d}{serial}"


# --- the data file ---------------------------------------------------------------------------------


def test_the_data_file_lists_the_63_pre_2025_provinces_with_their_known_codes() -> None:
    assert len(PROVINCES) == 63 == len(set(PROVINCES))
    assert province_codes() == frozenset(PROVINCES)
    names = {p["code"]: p["name"] for p in DATA["birth_registration_provinces"]}
    assert names["001"] == "Thành phố Hà Nội"
    assert names["079"] == "Thành phố Hồ Chí Minh"
    assert names["048"] == "Thành phố Đà Nẵng"
    assert names["096"] == "Tỉnh Cà Mau"
    assert all(len(c) == 3 and c.isdigit() for c in PROVINCES)


# --- valid numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("place", PROVINCES)
def test_every_province_code_is_accepted(place: str) -> None:
    parsed = parse_id_number(build(place, date(1990, 3, 15), "M"))
    assert parsed.place_code == place
    assert not parsed.born_abroad


@pytest.mark.parametrize("place", ["101", "150", "295"])
def test_births_registered_abroad_use_a_country_code(place: str) -> None:
    parsed = validate_id_number(build(place, date(2001, 1, 2), "F"), birth_date=date(2001, 1, 2), sex="F")
    assert parsed.born_abroad
    assert parsed.place_code == place


def test_parsing_reads_every_part_of_the_number() -> None:
    parsed = parse_id_number("001192034567")
    assert parsed.value == "001192034567"
    assert (parsed.place_code, parsed.century, parsed.sex, parsed.birth_year, parsed.serial) == (
        "001",
        1900,
        "F",
        1992,
        "034567",
    )
    child = parse_id_number("001216012345")
    assert (child.century, child.sex, child.birth_year) == (2000, "M", 2016)


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_id_number("  079085001234\n").value == "079085001234"


@pytest.mark.parametrize(
    ("number", "birth", "sex"),
    [
        ("001090012345", date(1990, 3, 15), "M"),  # 0: male, 20th century
        ("001192034567", date(1992, 7, 20), "F"),  # 1: female, 20th century
        ("001216012345", date(2016, 9, 1), "M"),  # 2: male, 21st century
        ("079300000001", date(2000, 1, 1), "F"),  # 3: female, 21st century, born in 2000
        ("079099999999", date(1999, 12, 31), "M"),
    ],
)
def test_numbers_consistent_with_birth_date_and_sex_validate(number: str, birth: date, sex: str) -> None:
    assert validate_id_number(number, birth_date=birth, sex=sex).value == number


# --- invalid numbers -------------------------------------------------------------------------------

LENGTH_MESSAGE = "A personal identification number has exactly 12 digits"


@pytest.mark.parametrize(
    "number",
    [
        "",
        "00109001234",  # 11 digits
        "0010900123456",  # 13 digits
        "00109001234a",
        "001-90012345",
        "001 90012345",
        "００１０９００１２３４５",  # full-width digits are digits to str.isdigit, not to us
        "00109001234٥",  # an Arabic-Indic five
        "+01090012345",
    ],
)
def test_wrong_length_or_non_digits_are_refused(number: str) -> None:
    with pytest.raises(IdNumberError) as info:
        parse_id_number(number)
    assert info.value.msgid == LENGTH_MESSAGE


@pytest.mark.parametrize("place", ["000", "003", "005", "097", "099", "100", "296", "500", "999"])
def test_unknown_place_codes_are_refused(place: str) -> None:
    with pytest.raises(IdNumberError) as info:
        parse_id_number(build(place, date(1990, 1, 1), "M"))
    assert info.value.msgid == "The first three digits are not a known province or country code"


def test_a_birth_year_in_another_century_is_refused() -> None:
    # Same last two digits (90), but 2090 is not 1990.
    with pytest.raises(IdNumberError) as info:
        validate_id_number("001290012345", birth_date=date(1990, 3, 15), sex="M")
    assert info.value.msgid == "The century digit and birth year in the number do not match the birth date"


def test_a_different_birth_year_is_refused() -> None:
    with pytest.raises(IdNumberError):
        validate_id_number("001090012345", birth_date=date(1991, 3, 15), sex="M")


def test_the_other_sex_is_refused() -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id_number("001090012345", birth_date=date(1990, 3, 15), sex="F")
    assert info.value.msgid == "The sex digit in the number does not match the recorded sex"


# --- the property ----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    birth=st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    sex=st.sampled_from(["M", "F"]),
    place=st.one_of(st.sampled_from(PROVINCES), st.integers(101, 295).map(lambda n: f"{n:03d}")),
    serial=st.integers(0, 999_999).map(lambda n: f"{n:06d}"),
)
def test_a_number_built_from_a_birth_date_sex_and_place_validates_against_exactly_those(
    birth: date, sex: str, place: str, serial: str
) -> None:
    number = build(place, birth, sex, serial)
    parsed = validate_id_number(number, birth_date=birth, sex=sex)
    assert (parsed.place_code, parsed.sex, parsed.birth_year, parsed.serial) == (
        place,
        sex,
        birth.year,
        serial,
    )
    assert parsed.born_abroad == (place not in PROVINCES)
    other = "F" if sex == "M" else "M"
    with pytest.raises(IdNumberError):
        validate_id_number(number, birth_date=birth, sex=other)
    for year in (birth.year - 100, birth.year + 100, birth.year + 1):
        if 1 <= year <= 9999:
            with pytest.raises(IdNumberError):
                validate_id_number(number, birth_date=birth.replace(year=year, day=1), sex=sex)


# --- masking ---------------------------------------------------------------------------------------


def test_mask_keeps_only_the_place_code_and_the_last_three_digits() -> None:
    assert mask("001090012345") == "001******345"
    assert len(mask("001090012345")) == 12


@pytest.mark.parametrize("value", ["", "1234", "0010900123456"])
def test_mask_hides_every_character_of_something_that_is_not_a_number(value: str) -> None:
    assert mask(value) == "*" * len(value)
