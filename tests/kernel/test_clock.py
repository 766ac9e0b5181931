"""The kernel clock: "today" is Vietnam's date, whatever the machine's time zone and hour."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    fc = FrozenClock(datetime(2026, 3, 14, 12, 0, tzinfo=UTC))
    previous = clock.set_clock(fc)
    yield fc
    clock.set_clock(previous)


@pytest.mark.parametrize(
    ("utc", "vietnam"),
    [
        (datetime(2026, 3, 14, 16, 59, 59, tzinfo=UTC), date(2026, 3, 14)),
        # From 17:00 UTC it is already tomorrow in Vietnam (UTC+7): the hours where a UTC date was wrong.
        (datetime(2026, 3, 14, 17, 0, tzinfo=UTC), date(2026, 3, 15)),
        (datetime(2026, 3, 14, 23, 59, 59, tzinfo=UTC), date(2026, 3, 15)),
        (datetime(2026, 12, 31, 20, 0, tzinfo=UTC), date(2027, 1, 1)),
    ],
)
def test_local_today_is_vietnams_date(frozen: FrozenClock, utc: datetime, vietnam: date) -> None:
    frozen.set(utc)
    assert clock.local_today() == vietnam
