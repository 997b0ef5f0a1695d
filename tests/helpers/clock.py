"""Virtual time for tests that run the bridge against real sockets.

The bridge's timers (polls, back-off, the call budget, ticks, silence checks) run on the
injected clock; the broker, the simulator and the sockets run on real time. `flowing` lets
virtual time run on while a test waits for real messages: one small step per event-loop
pass, so it can never outrun the loop (under load it simply flows slower). A test that must
show that nothing happens stops the flow and jumps: `await clock.advance(40)` wakes every
timer due in those 40 virtual seconds at once, without waiting for them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from bridge.clock import VirtualClock

STEP_S = 0.05  # virtual seconds per step
PAUSE_S = 0.005  # real seconds between steps, for the sockets (about 10 x real time)


@contextlib.asynccontextmanager
async def flowing(clock: VirtualClock, step_s: float = STEP_S) -> AsyncIterator[None]:
    stop = asyncio.Event()

    async def flow() -> None:
        while not stop.is_set():
            await clock.advance(step_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PAUSE_S)

    task = asyncio.create_task(flow(), name="virtual-time")
    try:
        yield
    finally:
        stop.set()
        await task
