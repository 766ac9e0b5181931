"""TOTP codes for browser logins, without waiting for a new 30-second window.

The server accepts a code of the current step or of the one step of clock drift on either side, and
never a step at or before the last one it accepted for the account (no replay). So a second login of the
same account within one window types the next step's code instead of sleeping until the next window:
this book remembers, per seed, the last step it handed out for the session's server.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pyotp

DRIFT_STEPS = 1  # as dgov.identity.totp.DRIFT_STEPS: the server also accepts the next step's code


class TotpCodes:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        # The server's clock is the machine's (its SystemClock), so is the book's unless a test sets it.
        self._clock = clock
        self._last: dict[str, int] = {}

    def next(self, seed: str) -> str:
        """A code the server has not accepted yet for this seed, valid now. The current step, or a later
        one within the drift window; never an earlier one (it could fall out of the window while the
        form is submitted)."""
        totp = pyotp.TOTP(seed)
        now_step = int(self._clock()) // totp.interval
        step = max(now_step, self._last.get(seed, now_step - 1) + 1)
        if step > now_step + DRIFT_STEPS:
            raise AssertionError(
                "a third login of the same account within one 30-second window: the server would refuse "
                "every code; give this test an account of its own"
            )
        self._last[seed] = step
        return totp.generate_otp(step)
