"""The clock every timer of the bridge runs on: injected, so tests move time instead of waiting.

``Clock`` is monotonic time and sleeping; wall-clock time (``time.time``) only stamps
payloads and is not part of it. ``SystemClock`` is the real one. ``VirtualClock`` is for
tests: its time stands still until ``advance`` moves it, and then every sleeper whose
deadline has come wakes, in deadline order, at its own deadline (so a task that sleeps again
from there sees the time it would have seen in real life). Real I/O (sockets, the broker,
the simulator) keeps running on real time beside it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "VirtualClock"]


class Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK: Clock = SystemClock()

# Event-loop turns given to woken tasks before time moves on: enough for a task to run to
# its next await on the clock when nothing in between waits for real I/O.
_SETTLE_TURNS = 20


class VirtualClock:
    """Time that moves only when the test says so (``advance``)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), wake))
        try:
            await wake
        finally:
            wake.cancel()  # a cancelled sleeper is skipped when its deadline comes

    @property
    def sleepers(self) -> int:
        """How many tasks wait on this clock now."""
        return sum(1 for _, _, wake in self._sleepers if not wake.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking every sleeper due on the way."""
        target = self._now + max(0.0, seconds)
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, wake = heapq.heappop(self._sleepers)
            if wake.done():
                continue
            self._now = max(self._now, deadline)
            wake.set_result(None)
            await _settle()
        self._now = target
        await _settle()


async def _settle() -> None:
    for _ in range(_SETTLE_TURNS):
        await asyncio.sleep(0)
