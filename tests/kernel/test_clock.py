"""The kernel clock's "today" is Vietnam's date, whatever the server's time zone or UTC's date."""

from __future__ import annotations

from datetime import UTC, date, datetime

from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock


def test_today_is_vietnams_date_when_utc_is_still_yesterday() -> None:
    # 18:30 UTC on 31 December is 01:30 on 1 January in Hà Nội (UTC+7).
    previous = clock.set_clock(FrozenClock(datetime(2026, 12, 31, 18, 30, tzinfo=UTC)))
    try:
        assert clock.today() == date(2027, 1, 1)
    finally:
        clock.set_clock(previous)


def test_today_before_midnight_in_hanoi_is_the_same_date_as_utc() -> None:
    previous = clock.set_clock(FrozenClock(datetime(2026, 12, 31, 16, 59, tzinfo=UTC)))
    try:
        assert clock.today() == date(2026, 12, 31)
    finally:
        clock.set_clock(previous)
