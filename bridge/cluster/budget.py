"""SharedBudget: one token bucket in the backend for a budget every instance spends.

For the sign server's API key: its limit is per key, not per instance. Same interface as
the process-local ``bridge.tiktok.budget.CallBudget`` (``acquire(kind)``, ``block_until``)
so the core can hand either one to the client. The bucket lives in one Redis hash and is
refilled from the server's clock inside a Lua script, so every instance sees one budget.
"""

from __future__ import annotations

from collections import Counter

from bridge.cluster import scripts
from bridge.cluster.backend import Client
from bridge.cluster.clock import Clock


class SharedBudget:
    def __init__(
        self,
        client: Client,
        key: str,
        calls_per_minute: float,
        clock: Clock,
        *,
        burst: int | None = None,
    ) -> None:
        if calls_per_minute <= 0:
            raise ValueError("calls_per_minute must be positive")
        self._client = client
        self._key = key
        self._rate = calls_per_minute / 60.0
        self._capacity = float(burst if burst is not None else max(1, int(calls_per_minute // 4)))
        self._clock = clock
        self.calls: Counter[str] = Counter()

    async def try_acquire(self) -> float:
        """Take one token: 0.0 when granted, else the seconds to wait before trying again.
        Raises BackendError when the backend cannot be asked (the caller backs off: spending
        a shared key's budget without the backend could exceed it)."""
        reply = await scripts.run_one(
            self._client,
            scripts.Call(scripts.ALL["budget_take"], [self._key], [self._rate, self._capacity, 1]),
        )
        return 0.0 if int(reply[0]) == 1 else max(0.001, int(reply[1]) / 1000)

    async def acquire(self, kind: str = "call") -> None:
        """Wait until a token is granted; ``kind`` only feeds ``calls``."""
        while (wait := await self.try_acquire()) > 0:
            await self._clock.sleep(wait)
        self.calls[kind] += 1

    async def block_until(self, unix_ts: float) -> None:
        """No instance gets a token before ``unix_ts`` (a 429's reset; never shortened)."""
        call = scripts.Call(scripts.ALL["budget_block"], [self._key], [round(unix_ts * 1000)])
        await scripts.run_one(self._client, call)
