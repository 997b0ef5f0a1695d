"""The clock the coordination layer runs on: injected, so tests can drive local deadlines.

Only local decisions use it (lease deadlines, renewal periods, budget waits). The backend's
TTLs run on the Redis server's own clock, which is real time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK: Clock = SystemClock()
