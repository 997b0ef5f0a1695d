"""CallBudget: one token bucket for every TikTok and sign-server call of the process.

Peers get banned by hammering TikTok / the sign server from many rooms at once
(peer-issues.md C1); a single budget shared by all streamers keeps the process polite,
and ``block_until`` makes a 429's reset time binding for every caller.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable


class CallBudget:
    """Token bucket: ``calls_per_minute`` refill rate, ``burst`` tokens at most.

    ``acquire`` waits (FIFO) for a token and for any block set by ``block_until``.
    Time: monotonic for refilling, unix time for blocks (429 reset times are unix stamps).
    """

    def __init__(
        self,
        calls_per_minute: float = 30,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if calls_per_minute <= 0:
            raise ValueError("calls_per_minute must be positive")
        self._rate = calls_per_minute / 60.0  # tokens per second
        # Default burst: a quarter minute's worth, so a cold start cannot spend the
        # whole minute's allowance in one go.
        self._capacity = float(burst if burst is not None else max(1, int(calls_per_minute // 4)))
        self._tokens = self._capacity
        self._clock = clock
        self._wall_clock = wall_clock
        self._updated = clock()
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()
        self.calls: Counter[str] = Counter()

    @property
    def blocked_until(self) -> float | None:
        """Unix time before which no call is made, or None."""
        return self._blocked_until if self._blocked_until > self._wall_clock() else None

    def block_until(self, unix_ts: float) -> None:
        """No call starts before ``unix_ts`` (a later block never gets shortened)."""
        self._blocked_until = max(self._blocked_until, unix_ts)

    async def acquire(self, kind: str) -> None:
        """Wait for the block (if any) and one token; ``kind`` only feeds ``calls``."""
        async with self._lock:
            while True:
                wait = self._blocked_until - self._wall_clock()
                if wait <= 0:
                    wait = self._take()
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
        self.calls[kind] += 1

    def _take(self) -> float:
        """Take a token and return 0, or return how long until one is available."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._rate
