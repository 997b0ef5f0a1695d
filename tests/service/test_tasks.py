"""The task supervisor and the virtual clock it runs on in tests: crashes are reported and
restarted with back-off, the watchdog's `alive` holds while every task runs or waits."""

from __future__ import annotations

import asyncio
import random

import pytest

from bridge.clock import VirtualClock
from bridge.service.tasks import Supervisor, backoff_ceiling, first_completed, full_jitter


async def test_virtual_clock_wakes_sleepers_in_order_at_their_deadlines() -> None:
    clock = VirtualClock(start=0.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))
        await clock.sleep(seconds)  # again, from its own deadline
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("a", 3.0), ("b", 1.0))]
    await clock.advance(0.5)
    assert woke == [] and clock.sleepers == 2
    await clock.advance(5.5)
    assert woke == [("b", 1.0), ("b", 2.0), ("a", 3.0), ("a", 6.0)]
    assert clock.monotonic() == 6.0
    await asyncio.gather(*tasks)


async def test_a_cancelled_sleeper_is_skipped() -> None:
    clock = VirtualClock()
    task = asyncio.create_task(clock.sleep(1.0))
    await clock.advance(0)
    task.cancel()
    await clock.advance(2.0)
    assert task.cancelled() and clock.sleepers == 0


async def test_a_crash_is_reported_and_restarted_with_back_off() -> None:
    clock = VirtualClock(start=0.0)
    reports: list[tuple[str, str, float]] = []
    runs: list[float] = []

    async def flaky() -> None:
        runs.append(clock.monotonic())
        if len(runs) <= 3:
            raise RuntimeError(f"fault {len(runs)}")
        await clock.sleep(3600)

    supervisor = Supervisor(clock=clock, backoff_initial_s=1.0, backoff_max_s=3.0)
    supervisor.start("flaky", flaky, on_crash=lambda n, e, d: reports.append((n, str(e), d)))
    await clock.advance(10.0)

    assert reports == [
        ("flaky", "fault 1", 1.0),
        ("flaky", "fault 2", 2.0),
        ("flaky", "fault 3", 3.0),
    ]
    assert runs == [0.0, 1.0, 3.0, 6.0]  # restarted after 1, 2 and (capped) 3 s
    assert supervisor.alive and supervisor.crashes("flaky") == 3
    await supervisor.close()
    assert supervisor.names == []


async def test_a_long_healthy_run_resets_the_back_off_and_a_return_is_the_end() -> None:
    clock = VirtualClock(start=0.0)
    delays: list[float] = []
    runs = 0

    async def long_lived() -> None:
        nonlocal runs
        runs += 1
        if runs == 4:
            return  # its work is done (the sink after close()): not restarted
        await clock.sleep(100.0)  # longer than healthy_after_s: the back-off starts over
        raise RuntimeError("late fault")

    supervisor = Supervisor(clock=clock, backoff_initial_s=1.0, healthy_after_s=50.0)
    supervisor.start("long", long_lived, on_crash=lambda n, e, d: delays.append(d))
    await clock.advance(1000.0)
    assert delays == [1.0, 1.0, 1.0] and runs == 4
    assert supervisor.names == [] and supervisor.alive


async def test_alive_turns_false_when_the_crash_report_itself_fails() -> None:
    clock = VirtualClock()

    async def crash() -> None:
        raise RuntimeError("fault")

    def broken_report(name: str, exc: BaseException, delay: float) -> None:
        raise ValueError("the report failed")

    supervisor = Supervisor(clock=clock)
    supervisor.start("steady", lambda: clock.sleep(3600))
    assert supervisor.alive
    supervisor.start("crash", crash, on_crash=broken_report)
    await clock.advance(0)
    assert not supervisor.alive  # the watchdog stops pinging: systemd restarts the process
    await supervisor.close()


async def test_stop_cancels_one_task_and_the_others_keep_running() -> None:
    clock = VirtualClock()
    cleaned: list[str] = []

    async def worker(name: str) -> None:
        try:
            await clock.sleep(3600)
        finally:
            cleaned.append(name)

    supervisor = Supervisor(clock=clock)
    for name in ("a", "b"):
        supervisor.start(name, lambda name=name: worker(name))  # type: ignore[misc]
    await clock.advance(0)
    await supervisor.stop("a")
    assert cleaned == ["a"] and supervisor.names == ["b"] and supervisor.alive
    with pytest.raises(ValueError, match="already supervised"):
        supervisor.start("b", lambda: worker("b"))
    await supervisor.close()
    assert cleaned == ["a", "b"]


async def test_first_completed_returns_the_first_and_cancels_the_rest() -> None:
    clock = VirtualClock()
    cancelled = asyncio.Event()

    async def slow() -> str:
        try:
            await clock.sleep(10)
        finally:
            cancelled.set()
        return "slow"

    async def fast() -> str:
        await clock.sleep(1)
        raise LookupError("fast ended")

    waiting = asyncio.create_task(first_completed(slow(), fast()))
    await clock.advance(2)
    with pytest.raises(LookupError, match="fast ended"):
        await waiting
    assert cancelled.is_set()


def test_backoff_doubles_up_to_its_cap_and_jitter_stays_below_it() -> None:
    ceilings = [backoff_ceiling(n, base=1.0, cap=60.0) for n in range(8)]
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert backoff_ceiling(10_000, base=0.5, cap=30.0) == 30.0  # no overflow
    rng = random.Random(7)
    delays = [full_jitter(n, base=1.0, cap=60.0, rng=rng) for n in range(8) for _ in range(50)]
    limits = [c for c in ceilings for _ in range(50)]
    assert all(0.0 <= d <= c for d, c in zip(delays, limits, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not fixed
