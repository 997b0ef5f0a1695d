"""Lease deadlines on an injected clock, and the warm-up after a backend lost its data.

The local deadline is pure arithmetic on the clock the coordinator is given: with a fake
clock the test moves time and sees the stop decision exactly at ``t0 + TTL - margin``,
while the lease in Redis (real time) is still valid.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from bridge.cluster import ClusterSettings, StopReason
from bridge.cluster.coordinator import Coordinator
from bridge.cluster.keys import Keys
from bridge.cluster.leases import Acquired, Leases, Refused
from bridge.cluster.membership import Membership
from tests.cluster.recorder import Recorder
from tests.helpers.redis_server import RedisServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self._moved = asyncio.Condition()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        until = self.now + seconds
        async with self._moved:
            await self._moved.wait_for(lambda: self.now >= until)

    async def advance(self, seconds: float) -> None:
        async with self._moved:
            self.now += seconds
            self._moved.notify_all()


async def test_stop_exactly_at_the_local_deadline(redis_server: RedisServer, prefix: str) -> None:
    settings = ClusterSettings(
        instance="a",
        url=redis_server.url,
        key_prefix=prefix,
        lease_ttl_s=1.0,
        renew_interval_s=0.3,
        safety_margin_s=0.2,
    )
    clock = FakeClock()
    recorder = Recorder()
    async with Redis.from_url(redis_server.url, decode_responses=True) as client:
        keys = Keys(prefix)
        coordinator = Coordinator(
            settings,
            Membership(client, keys, "a", "s1", 1.0, settings.lease_ttl_s),
            Leases(client, keys, "a#s1", settings.lease_ttl_s),
            recorder.listener("a"),
            clock,
        )
        # The first lease of a never-seen streamer waits one TTL (real time, in Redis):
        # let that pass before the fake clock matters.
        warm = (await Leases(client, keys, "z#0", 1.0).acquire(["x"]))["x"]
        assert isinstance(warm, Refused)
        await asyncio.sleep(warm.wait_s + 0.05)
        coordinator.set_wanted({"x"})
        await coordinator.tick()
        token = coordinator.holds("x")
        assert token is not None
        watchdog = asyncio.create_task(coordinator.watch_deadlines())
        try:
            await clock.advance(0.79)  # t0 + TTL - margin = +0.8: still ours
            assert coordinator.holds("x") == token
            await clock.advance(0.01)
            assert coordinator.holds("x") is None  # exact, whatever the watchdog's timing
            await recorder.wait_until(lambda: not recorder.owners(), 5, "stop decision")
        finally:
            watchdog.cancel()
        stop = recorder.decisions[-1]
        assert (stop.kind, stop.reason) == ("stop", str(StopReason.LOST))
        # Nobody renewed, yet in Redis the lease is still ours: we stopped first.
        assert await client.hget(keys.lease("x"), "owner") == "a#s1"


async def test_first_lease_waits_one_ttl_and_tokens_increase(
    redis_server: RedisServer, prefix: str
) -> None:
    async with Redis.from_url(redis_server.url, decode_responses=True) as client:
        keys = Keys(prefix)
        a = Leases(client, keys, "a#1", ttl_s=1.0)
        b = Leases(client, keys, "b#1", ttl_s=1.0)
        first = (await a.acquire(["x"]))["x"]
        assert isinstance(first, Refused) and first.holder == "" and 0.9 <= first.wait_s <= 1.0
        await asyncio.sleep(first.wait_s + 0.05)  # the warm-up is Redis real time
        got = (await a.acquire(["x"]))["x"]
        assert isinstance(got, Acquired)
        busy = (await b.acquire(["x"]))["x"]
        assert isinstance(busy, Refused) and busy.holder == "a#1" and busy.wait_s <= 1.0
        assert (await a.renew({"x": got.token})) == {"x": True}
        assert (await b.renew({"x": got.token})) == {"x": False}  # not b's
        assert (await b.release({"x": got.token})) == {"x": False}
        assert (await a.release({"x": got.token})) == {"x": True}
        taken = (await b.acquire(["x"]))["x"]
        assert isinstance(taken, Acquired) and taken.token > got.token
        assert taken.previous == "a#1"
        assert (await a.renew({"x": got.token})) == {"x": False}  # a's old token is dead
        # The backend loses its data: a new first lease waits again, and the token still
        # grows (it follows the server clock), so fencing holds across the loss.
        await client.flushall()
        again = (await a.acquire(["x"]))["x"]
        assert isinstance(again, Refused) and again.holder == ""
        await asyncio.sleep(again.wait_s + 0.05)
        final = (await a.acquire(["x"]))["x"]
        assert isinstance(final, Acquired) and final.token > taken.token
