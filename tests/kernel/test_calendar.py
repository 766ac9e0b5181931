"""Working-day calendar: known Vietnamese dates, the shipped swap table, deadline arithmetic."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date, timedelta
from importlib.resources import files

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgov.kernel.calendar import (
    Adjustment,
    DayKind,
    WorkingCalendar,
    default_calendar,
    parse_adjustments_csv,
)

CAL = default_calendar()
TABLE_TEXT = (files("dgov.kernel") / "data" / "vn_working_day_adjustments.csv").read_text(encoding="utf-8")
TABLE = parse_adjustments_csv(TABLE_TEXT)
COVERED_YEARS = sorted({a.day.year for a in TABLE})


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# --- known facts, 2024-2026 (sources in src/dgov/kernel/data/README.md) ---------------------------


def test_tet_2026_official_days_are_not_working_days() -> None:
    # Notice 9441/TB-BNV: 29 tháng Chạp to mùng 4 Tết = Mon 16 to Fri 20 February 2026.
    for d in days(date(2026, 2, 16), date(2026, 2, 20)):
        assert not CAL.is_working_day(d), d
        assert CAL.holiday_name(d) is not None, d
    assert CAL.holiday_name(date(2026, 2, 17)) == "Tết Nguyên Đán"


def test_the_working_days_around_tet_2026_are_working_days() -> None:
    assert CAL.is_working_day(date(2026, 2, 13))  # Friday before the nine-day break
    assert CAL.is_working_day(date(2026, 2, 23))  # Monday after it
    assert CAL.holiday_name(date(2026, 2, 23)) is None


def test_weekend_is_not_a_working_day() -> None:
    assert date(2026, 3, 7).weekday() == 5
    assert not CAL.is_working_day(date(2026, 3, 7))
    assert not CAL.is_working_day(date(2026, 3, 8))
    assert CAL.is_working_day(date(2026, 3, 9))
    assert CAL.holiday_name(date(2026, 3, 7)) is None


def test_new_year_2026_swap_from_the_table() -> None:
    # Official Dispatch 12729/VPCP-KGVX: Friday 2 January off, made up on Saturday 10 January.
    assert not CAL.is_working_day(date(2026, 1, 1))
    assert not CAL.is_working_day(date(2026, 1, 2))
    assert "Tết Dương lịch" in (CAL.holiday_name(date(2026, 1, 2)) or "")
    assert date(2026, 1, 10).weekday() == 5
    assert CAL.is_working_day(date(2026, 1, 10))
    assert CAL.holiday_name(date(2026, 1, 10)) is None
    assert not CAL.is_working_day(date(2026, 1, 17))  # the Saturday after is an ordinary one


@pytest.mark.parametrize(
    ("off", "work"),
    [
        (date(2024, 4, 29), date(2024, 5, 4)),
        (date(2025, 5, 2), date(2025, 4, 26)),
        (date(2026, 1, 2), date(2026, 1, 10)),
        (date(2026, 8, 31), date(2026, 8, 22)),
    ],
)
def test_announced_swaps(off: date, work: date) -> None:
    assert not CAL.is_working_day(off)
    assert CAL.is_working_day(work)


def test_national_day_2026_break() -> None:
    # Saturday 29 August to Wednesday 2 September 2026, five days.
    for d in days(date(2026, 8, 29), date(2026, 9, 2)):
        assert not CAL.is_working_day(d), d
    assert CAL.is_working_day(date(2026, 8, 28))
    assert CAL.is_working_day(date(2026, 9, 3))


# --- deadline arithmetic ----------------------------------------------------------------------------


def test_add_working_days_across_tet_2026() -> None:
    thu = date(2026, 2, 12)
    assert CAL.add_working_days(thu, 1) == date(2026, 2, 13)
    assert CAL.add_working_days(thu, 2) == date(2026, 2, 23)
    assert CAL.add_working_days(thu, 3) == date(2026, 2, 24)
    # A dossier received on the last day before Tết with one working day to go is due after Tết.
    assert CAL.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 23)
    # 15 working days from 30 January: 10 in February before Tết, then 5 after it.
    assert CAL.add_working_days(date(2026, 1, 30), 15) == date(2026, 2, 27)


def test_add_working_days_counts_the_make_up_saturday() -> None:
    assert CAL.add_working_days(date(2026, 1, 9), 1) == date(2026, 1, 10)
    # Across the year boundary: 1 and 2 January off, then the week, then the make-up Saturday.
    assert CAL.add_working_days(date(2025, 12, 31), 1) == date(2026, 1, 5)
    assert CAL.add_working_days(date(2025, 12, 31), 6) == date(2026, 1, 10)
    assert CAL.add_working_days(date(2025, 12, 31), 7) == date(2026, 1, 12)


def test_add_zero_working_days() -> None:
    assert CAL.add_working_days(date(2026, 2, 13), 0) == date(2026, 2, 13)
    assert CAL.add_working_days(date(2026, 1, 10), 0) == date(2026, 1, 10)
    assert CAL.add_working_days(date(2026, 2, 15), 0) == date(2026, 2, 23)


def test_negative_working_days_are_refused() -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        CAL.add_working_days(date(2026, 2, 13), -1)


def test_next_working_day_is_strictly_after() -> None:
    assert CAL.next_working_day(date(2026, 2, 12)) == date(2026, 2, 13)
    assert CAL.next_working_day(date(2026, 2, 13)) == date(2026, 2, 23)
    assert CAL.next_working_day(date(2025, 12, 31)) == date(2026, 1, 5)


def test_working_days_between() -> None:
    # February 2026 has 20 weekdays, 5 of them Tết; (1 Feb, 28 Feb] excludes the Sunday start.
    assert CAL.working_days_between(date(2026, 2, 1), date(2026, 2, 28)) == 15
    assert CAL.working_days_between(date(2026, 2, 13), date(2026, 2, 23)) == 1
    assert CAL.working_days_between(date(2026, 2, 13), date(2026, 2, 22)) == 0
    assert CAL.working_days_between(date(2026, 2, 13), date(2026, 2, 13)) == 0
    # January 2026: 22 weekdays, minus 1 and 2 January, plus Saturday 10 January.
    assert CAL.working_days_between(date(2025, 12, 31), date(2026, 1, 31)) == 21


def test_working_days_between_is_antisymmetric() -> None:
    a, b = date(2026, 2, 1), date(2026, 2, 28)
    assert CAL.working_days_between(b, a) == -15


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31)),
    n=st.integers(min_value=1, max_value=300),
)
def test_add_and_between_are_inverse(start: date, n: int) -> None:
    due = CAL.add_working_days(start, n)
    assert due > start
    assert CAL.is_working_day(due)
    assert CAL.working_days_between(start, due) == n
    assert CAL.working_days_between(start, due - timedelta(days=1)) == n - 1


@settings(max_examples=100, deadline=None)
@given(start=st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31)))
def test_zero_days_is_start_or_the_next_working_day(start: date) -> None:
    due = CAL.add_working_days(start, 0)
    assert CAL.is_working_day(due)
    assert (due == start) == CAL.is_working_day(start)
    assert CAL.working_days_between(start, due) == (0 if due == start else 1)


# --- the shipped table ------------------------------------------------------------------------------


def test_table_covers_the_verified_years() -> None:
    assert COVERED_YEARS == [2024, 2025, 2026]
    assert default_calendar() is CAL
    assert set(CAL.adjustments) == {a.day for a in TABLE}


def test_table_rows_are_plausible() -> None:
    for a in TABLE:
        if a.kind is DayKind.WORK:
            assert a.day.weekday() >= 5, f"{a.day} make-up day is not a weekend day"
        else:
            assert a.day.weekday() < 5, f"{a.day} day off is not a weekday"
        assert "/" in a.source and "http" in a.source, a


def test_every_year_of_the_table_is_balanced() -> None:
    # Swaps move working time, they do not remove it: each day off is paid back by a make-up day.
    per_year = Counter((a.day.year, a.kind) for a in TABLE)
    for year in COVERED_YEARS:
        assert per_year[year, DayKind.OFF] == per_year[year, DayKind.WORK], year


def test_table_does_not_contradict_the_holidays_package() -> None:
    package = holidays.country_holidays("VN", years=range(COVERED_YEARS[0] - 1, COVERED_YEARS[-1] + 2))
    package_workdays = {d for d in package.weekend_workdays if d.year in COVERED_YEARS}
    package_swapped_off = {
        d
        for d, name in holidays.country_holidays("VN", years=COVERED_YEARS, language="vi").items()
        if name.startswith("Ngày nghỉ (thay cho")
    }
    work = {a.day for a in TABLE if a.kind is DayKind.WORK}
    off = {a.day for a in TABLE if a.kind is DayKind.OFF}
    assert not work & set(package), "the table makes a working day of a statutory holiday"
    # What the package already knows for the covered years must be in the table as well.
    assert package_workdays <= work
    assert package_swapped_off <= off


def test_shipped_csv_is_well_formed() -> None:
    rows = list(csv.reader(TABLE_TEXT.splitlines()))
    assert rows[0] == ["date", "kind", "name", "source"]
    assert all(len(r) == 4 for r in rows)
    assert len({r[0] for r in rows[1:]}) == len(rows) - 1


# --- construction and parsing -----------------------------------------------------------------------


def test_adjustments_override_the_package() -> None:
    tet = date(2026, 2, 17)
    cal = WorkingCalendar("VN", [Adjustment(tet, DayKind.WORK, "test", "test")])
    assert cal.is_working_day(tet)
    assert cal.holiday_name(tet) is None
    plain = WorkingCalendar("VN")
    assert not plain.is_working_day(tet)
    assert plain.is_working_day(date(2026, 1, 2))  # without the table the New Year swap is unknown


def test_make_up_saturdays_known_to_the_package_count_without_the_table() -> None:
    plain = WorkingCalendar("VN")
    assert plain.is_working_day(date(2024, 5, 4))
    assert not plain.is_working_day(date(2024, 4, 29))
    # Monday 31 December 2018 off, made up on Saturday 5 January 2019: a pair across the year boundary.
    assert plain.is_working_day(date(2019, 1, 5))
    assert not WorkingCalendar("VN").is_working_day(date(2018, 12, 31))


def test_names_do_not_follow_the_process_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    monkeypatch.setenv("LC_ALL", "en_US.UTF-8")
    assert WorkingCalendar("VN").holiday_name(date(2026, 2, 17)) == "Tết Nguyên Đán"
    assert WorkingCalendar("VN", language="en_US").holiday_name(date(2026, 2, 17)) == "Lunar New Year"


def test_another_country() -> None:
    de = WorkingCalendar("DE")
    assert not de.is_working_day(date(2025, 10, 3))  # German Unity Day, a Friday
    assert de.is_working_day(date(2025, 9, 2))  # Vietnam's National Day is nothing to Germany
    assert de.country == "DE"


def test_custom_weekend() -> None:
    six_day_week = WorkingCalendar("VN", weekend=[6])
    assert six_day_week.is_working_day(date(2026, 3, 7))
    assert not six_day_week.is_working_day(date(2026, 3, 8))


def test_bad_construction_is_refused() -> None:
    with pytest.raises(ValueError, match="knows no country"):
        WorkingCalendar("XX")
    d = date(2026, 3, 9)
    with pytest.raises(ValueError, match="adjusted twice"):
        WorkingCalendar("VN", [Adjustment(d, DayKind.OFF, "a", "s"), Adjustment(d, DayKind.OFF, "a", "s")])
    with pytest.raises(ValueError, match="already a weekend day"):
        WorkingCalendar("VN", [Adjustment(date(2026, 3, 7), DayKind.OFF, "a", "s")])
    with pytest.raises(ValueError, match="no working day"):
        WorkingCalendar("VN", weekend=range(7))
    with pytest.raises(ValueError, match=r"0\.\.6"):
        WorkingCalendar("VN", weekend=[7])


@pytest.mark.parametrize(
    "text",
    [
        "date,kind,name\n2026-01-02,off,x\n",
        "date,kind,name,source\n2026-01-02,holiday,x,s\n",
        "date,kind,name,source\n2026-13-02,off,x,s\n",
        "date,kind,name,source\n2026-01-02,off,,s\n",
        "date,kind,name,source\n2026-01-02,off,x\n",
        "date,kind,name,source\n2026-01-02,off,x,s,extra\n",
    ],
)
def test_bad_csv_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_adjustments_csv(text)


def test_csv_parses() -> None:
    parsed = parse_adjustments_csv("date,kind,name,source\n2026-01-10,work,Làm bù,CV 1/X\n")
    assert parsed == (Adjustment(date(2026, 1, 10), DayKind.WORK, "Làm bù", "CV 1/X"),)
