"""A per-key sliding-window limit on requests, in memory.

Identity throttles failed logins with counters in the database (`identity_throttle`), shared by all
workers. That mechanism does not fit an anonymous, expensive endpoint: it counts failures, not
requests; writing a row on every anonymous request would hand an attacker the database's write lock
(SQLite has one writer) — the limiter itself would become the denial of service; and the table is
identity's own. What such a limit protects is this process's CPU and worker pool, so it lives with
them, in the process: with N web workers a client gets at most N times the limit, each worker still
bounded.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        *,
        limit: int,
        window_seconds: float,
        max_keys: int = 10_000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self._now = now
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str) -> int | None:
        """Count one request for `key`: None if allowed, else the seconds to wait before the next one
        (a refused request is not counted, so waiting is enough to get through)."""
        now = self._now()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            # Memory stays bounded whatever the number of addresses: the least recent key goes first.
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1, math.ceil(hits[0] + self.window - now))
        hits.append(now)
        return None
