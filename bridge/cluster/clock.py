"""The clock the coordination layer runs on: the bridge's one clock (bridge/clock.py).

Only local decisions use it (lease deadlines, renewal periods, budget waits). The backend's
TTLs run on the Redis server's own clock, which is real time.
"""

from __future__ import annotations

from bridge.clock import SYSTEM_CLOCK, Clock, SystemClock, VirtualClock

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "VirtualClock"]
