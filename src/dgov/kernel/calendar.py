"""Working-day calendar: the days on which public administration counts deadlines.

A day is a working day unless it is a weekend day or a public holiday, as computed by the `holidays`
package for the country, and then a table of officially announced adjustments has the last word:
each row declares one date `off` (an extra or swapped day off) or `work` (a make-up working day,
usually a Saturday). The table exists because governments announce swaps year by year, after the
package may have been released; `holidays` knows some of them, and where it does the table agrees
with it (the tests check this for the shipped Vietnamese table).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from importlib.resources import files

import holidays

__all__ = [
    "Adjustment",
    "DayKind",
    "WorkingCalendar",
    "default_calendar",
    "parse_adjustments_csv",
]

_ONE_DAY = timedelta(days=1)
_CSV_COLUMNS = ("date", "kind", "name", "source")
_DEFAULT_TABLE = "vn_working_day_adjustments.csv"


class DayKind(StrEnum):
    OFF = "off"
    WORK = "work"


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One announced exception to the regular calendar; `source` names the official act."""

    day: date
    kind: DayKind
    name: str
    source: str


@dataclass(frozen=True, slots=True)
class _YearData:
    holidays: Mapping[date, str]
    weekend_workdays: frozenset[date]


class WorkingCalendar:
    """Working days of one country (optionally one subdivision).

    `weekend` holds `date.weekday()` numbers (Monday is 0); by default the country's own weekend as
    the `holidays` package defines it. `language` selects holiday names; by default the country's
    original language, never the process locale, so names do not change with the environment.
    """

    def __init__(
        self,
        country: str,
        adjustments: Iterable[Adjustment] = (),
        *,
        subdivision: str | None = None,
        weekend: Iterable[int] | None = None,
        language: str | None = None,
    ) -> None:
        try:
            probe = holidays.country_holidays(country, subdiv=subdivision)
        except NotImplementedError as exc:
            raise ValueError(f"the holidays package knows no country {country!r}") from exc
        self._country = country
        self._subdivision = subdivision
        self._language = language or probe.default_language
        self._weekend = frozenset(probe.weekend if weekend is None else weekend)
        if not self._weekend <= set(range(7)):
            raise ValueError(f"weekend days must be weekday numbers 0..6, got {sorted(self._weekend)}")
        if len(self._weekend) == 7:
            raise ValueError("a calendar whose every weekday is weekend has no working day")
        by_day: dict[date, Adjustment] = {}
        for adj in adjustments:
            if adj.day in by_day:
                raise ValueError(f"{adj.day.isoformat()} is adjusted twice")
            if adj.kind is DayKind.OFF and adj.day.weekday() in self._weekend:
                # A day off on a weekend changes nothing, so it is almost surely a mistyped date.
                raise ValueError(f"{adj.day.isoformat()} is declared off but is already a weekend day")
            by_day[adj.day] = adj
        self._adjustments: Mapping[date, Adjustment] = by_day
        self._years: dict[int, _YearData] = {}

    @property
    def country(self) -> str:
        return self._country

    @property
    def adjustments(self) -> Mapping[date, Adjustment]:
        return self._adjustments

    def is_working_day(self, d: date) -> bool:
        adj = self._adjustments.get(d)
        if adj is not None:
            return adj.kind is DayKind.WORK
        year = self._year(d.year)
        if d.weekday() in self._weekend:
            return d in year.weekend_workdays
        return d not in year.holidays

    def holiday_name(self, d: date) -> str | None:
        """Name of the holiday or declared day off on `d`; None on working days and plain weekends."""
        adj = self._adjustments.get(d)
        if adj is not None:
            return adj.name if adj.kind is DayKind.OFF else None
        return self._year(d.year).holidays.get(d)

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after `d`."""
        d += _ONE_DAY
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def add_working_days(self, start: date, n: int) -> date:
        """The `n`-th working day strictly after `start`; for n = 0, `start` itself if it is a working
        day, else the next working day.

        This is how Vietnamese administrative deadlines run: a dossier received on day D with a time
        limit of N working days is due at the end of `add_working_days(D, N)`; the day of receipt
        itself is not counted. Time of day is not this function's concern: a caller that treats a
        dossier arriving on a non-working day (or after office hours) as received on the next working
        day passes that day as `start`.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return start if self.is_working_day(start) else self.next_working_day(start)
        d = start
        for _ in range(n):
            d = self.next_working_day(d)
        return d

    def working_days_between(self, start: date, end: date) -> int:
        """Number of working days in (start, end]; negative, -(working days in (end, start]), when
        end < start, so that the remaining time to an overdue deadline comes out below zero.
        """
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        d = start + _ONE_DAY
        while d <= end:
            count += self.is_working_day(d)
            d += _ONE_DAY
        return count

    def _year(self, year: int) -> _YearData:
        data = self._years.get(year)
        if data is None:
            # A swap may pair days of adjacent years (31 December off, made up on a January Saturday);
            # populating the neighbours finds the make-up day whichever year `holidays` files the pair under.
            base = holidays.country_holidays(
                self._country,
                subdiv=self._subdivision,
                years=range(year - 1, year + 2),
                language=self._language,
            )
            data = _YearData(
                holidays={d: name for d, name in base.items() if d.year == year},
                weekend_workdays=frozenset(d for d in base.weekend_workdays if d.year == year),
            )
            # Racing threads compute the same immutable value, so the unlocked write is harmless.
            self._years[year] = data
        return data


def parse_adjustments_csv(text: str) -> tuple[Adjustment, ...]:
    """Parse a `date,kind,name,source` table (ISO dates, kind `off` or `work`); every field required."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != _CSV_COLUMNS:
        raise ValueError(f"expected columns {','.join(_CSV_COLUMNS)}, got {reader.fieldnames}")
    rows: list[Adjustment] = []
    for row in reader:
        line = reader.line_num
        values = {col: (row.get(col) or "").strip() for col in _CSV_COLUMNS}
        if None in row or any(not v for v in values.values()):
            raise ValueError(f"line {line}: every row needs exactly {len(_CSV_COLUMNS)} non-empty fields")
        try:
            day = date.fromisoformat(values["date"])
            kind = DayKind(values["kind"])
        except ValueError as exc:
            raise ValueError(f"line {line}: {exc}") from exc
        rows.append(Adjustment(day=day, kind=kind, name=values["name"], source=values["source"]))
    return tuple(rows)


@lru_cache(maxsize=1)
def default_calendar() -> WorkingCalendar:
    """Vietnam's calendar with the adjustments table shipped in `dgov/kernel/data`."""
    text = (files("dgov.kernel") / "data" / _DEFAULT_TABLE).read_text(encoding="utf-8")
    return WorkingCalendar("VN", parse_adjustments_csv(text), language="vi")
