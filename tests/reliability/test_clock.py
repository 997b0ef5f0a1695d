"""Wall-clock jumps (NTP on a Pi without an RTC can move time.time() by hours or years):
timers — back-off, rate-limit blocks, like windows, streak timeouts — must run on the
monotonic clock. The Bridge runs in-process with its wall clock shifted after start."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from bridge.clock import VirtualClock
from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from bridge.tiktok.budget import CallBudget
from tests.core.support import FAST, config_yaml, make_config, running, status_is, with_supervisor
from tests.helpers.mosquitto import Mosquitto, Subscribe

DAY = 86_400.0


async def test_budget_block_survives_a_backward_wall_clock_jump() -> None:
    clock, wall = VirtualClock(), [1_000_000.0]
    budget = CallBudget(600, burst=5, clock=clock, wall_clock=lambda: wall[0])
    budget.block_until(wall[0] + 2)  # a 429 with RateLimit-Reset two seconds ahead
    wall[0] -= DAY  # NTP steps the clock back a day
    waiter = asyncio.create_task(budget.acquire("tiktok"))
    await clock.advance(2.0)  # ... and two seconds pass
    assert waiter.done()  # not a day
    assert budget.blocked_until is None


async def test_budget_block_is_not_ended_early_by_a_forward_jump() -> None:
    clock, wall = VirtualClock(), [1_000_000.0]
    budget = CallBudget(600, burst=5, clock=clock, wall_clock=lambda: wall[0])
    budget.block_until(wall[0] + 60)
    wall[0] += DAY  # the clock jumps forward: the server's limit still holds for 60 s
    waiter = asyncio.create_task(budget.acquire("tiktok"))
    await clock.advance(59.9)
    assert not waiter.done()
    assert budget.blocked_until is not None
    await clock.advance(0.1)
    assert waiter.done()


@pytest.mark.parametrize("jump", [-DAY, +DAY], ids=["backward", "forward"])
async def test_bridge_keeps_its_timers_across_a_clock_jump(
    jump: float,
    mosquitto: Mosquitto,
    sim: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
) -> None:
    room = sim.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    text = config_yaml(mosquitto, sim, tmp_path / "s", "- user: alice\n  like_window_ms: 300\n")
    cfg = make_config(text.replace("connection: direct", "connection: sign_server"), tmp_path)
    cfg = with_supervisor(cfg, dataclasses.replace(FAST, backoff_max_s=1.0))
    async with running(cfg) as bridge:
        await rec.wait_for("tiktok/alice/state", status_is("connected"), timeout=20)
        # A rate limit is in force when the wall clock jumps.
        sim.rate_limit(2)
        room.drop_connections()
        await rec.wait_for("tiktok/alice/state", status_is("rate_limited"), timeout=20)
        real = time.time
        bridge.budget._wall_clock = lambda: real() + jump  # the Bridge's view of the clock
        # Recovers after the 2 s reset, not after a day (backward) — and not before the
        # reset either (forward): the simulator counts 429s.
        await rec.wait_for(
            "tiktok/alice/state",
            lambda x: x.json()["status"] == "connected" and len(rec.on("tiktok/alice/state")) > 3,
            timeout=20,
        )
        assert [r.status for r in sim.stats.requests].count(429) == 1
        # Like windows flush on the monotonic clock.
        await room.wait_entered(1, 10)
        room.push(m.like("fan", 5, 5))
        like = await rec.wait_for("tiktok/alice/like", timeout=10)
        assert like.json()["count"] == 5
