"""The browser tests' book of TOTP codes against the server's own rule (dgov.identity.totp): two logins
of one account within a window both pass at once, with no wait for the next window."""

from __future__ import annotations

from datetime import UTC, datetime

import pyotp
import pytest
from totpcodes import DRIFT_STEPS, TotpCodes

from dgov.identity import totp

AT = datetime(2026, 3, 14, 20, 0, 12, tzinfo=UTC)


def test_the_book_drifts_as_far_as_the_server_allows() -> None:
    assert DRIFT_STEPS == totp.DRIFT_STEPS


def test_two_logins_in_one_window_are_both_accepted_and_a_third_is_refused_loudly() -> None:
    seed = pyotp.random_base32()
    book = TotpCodes(clock=AT.timestamp)
    first = totp.matching_step(seed, book.next(seed), at=AT, after_step=None)
    assert first == int(AT.timestamp()) // 30
    # The server refuses the current step's code a second time; the book gives the next step's.
    second = totp.matching_step(seed, book.next(seed), at=AT, after_step=first)
    assert second == first + 1
    with pytest.raises(AssertionError, match="account of its own"):
        book.next(seed)
    assert (
        totp.matching_step(seed, TotpCodes(clock=AT.timestamp).next(seed), at=AT, after_step=second) is None
    )
    # In the next window the book goes on without waiting: the step after the last one it gave.
    later = datetime.fromtimestamp(AT.timestamp() + 30, UTC)
    book._clock = later.timestamp
    assert totp.matching_step(seed, book.next(seed), at=later, after_step=second) == second + 1
