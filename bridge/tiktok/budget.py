"""CallBudget: one token bucket for every TikTok and sign-server call of the process.

Clients get banned by hammering TikTok / the sign server from many rooms at once
(docs/protocol.md §2.5); a single budget shared by all streamers keeps the process polite,
and ``block_until`` makes a 429's reset time binding for every caller.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

from bridge.clock import SYSTEM_CLOCK, Clock


class CallBudget:
    """Token bucket: ``calls_per_minute`` refill rate, ``burst`` tokens at most.

    ``acquire`` waits (FIFO) for a token and for any block set by ``block_until``.
    Time: the injected clock's monotonic time for refilling and waiting (tests move it).
    A 429 reset arrives as a unix stamp and is turned into a monotonic deadline when it
    arrives, so a wall-clock jump afterwards (NTP on a Pi without RTC) neither extends the
    block by the jump nor ends it early.
    """

    def __init__(
        self,
        calls_per_minute: float = 30,
        *,
        burst: int | None = None,
        clock: Clock = SYSTEM_CLOCK,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if calls_per_minute <= 0:
            raise ValueError("calls_per_minute must be positive")
        self._rate = calls_per_minute / 60.0  # tokens per second
        # Default burst: a quarter minute's worth, so a cold start cannot spend the
        # whole minute's allowance in one go.
        self._capacity = float(burst if burst is not None else max(1, int(calls_per_minute // 4)))
        self._tokens = self._capacity
        self._clock = clock.monotonic
        self._sleep = clock.sleep
        self._wall_clock = wall_clock
        self._updated = clock.monotonic()
        self._blocked_wall = 0.0  # the reset as given (unix time), for reporting
        self._blocked_mono = 0.0  # the same instant on the monotonic clock: what waits use
        self._lock = asyncio.Lock()
        self.calls: Counter[str] = Counter()

    @property
    def blocked_until(self) -> float | None:
        """Unix time before which no call is made, or None."""
        return self._blocked_wall if self._blocked_mono > self._clock() else None

    def block_until(self, unix_ts: float) -> None:
        """No call starts before ``unix_ts`` (a later block never gets shortened)."""
        deadline = self._clock() + (unix_ts - self._wall_clock())
        if deadline > self._blocked_mono:
            self._blocked_mono = deadline
            self._blocked_wall = unix_ts

    async def acquire(self, kind: str) -> None:
        """Wait for the block (if any) and one token; ``kind`` only feeds ``calls``."""
        async with self._lock:
            while True:
                wait = self._blocked_mono - self._clock()
                if wait <= 0:
                    wait = self._take()
                if wait <= 0:
                    break
                await self._sleep(wait)
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
