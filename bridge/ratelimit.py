"""One token bucket for every rate limit of the bridge (outgoing chat, streamer/add, the
incoming command limiter). Bottom layer, so the sink and the core share it."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``burst`` tokens, one more every ``interval_s`` seconds (0: it never runs out)."""

    __slots__ = ("_burst", "_clock", "_interval", "_stamp", "tokens")

    def __init__(
        self, interval_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = max(interval_s, 0.0)
        self._burst = float(max(burst, 1))
        self._clock = clock
        self.tokens = self._burst
        self._stamp = clock()

    def refill(self) -> None:
        now = self._clock()
        if self._interval == 0:
            self.tokens = self._burst
        else:
            elapsed = max(0.0, now - self._stamp)
            self.tokens = min(self._burst, self.tokens + elapsed / self._interval)
        self._stamp = now

    def full(self) -> bool:
        """As good as a new bucket (a limiter may forget it)."""
        self.refill()
        return self.tokens >= self._burst

    def take(self) -> float:
        """Take a token; returns 0.0 on success, else the seconds until one is available."""
        self.refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) * self._interval
