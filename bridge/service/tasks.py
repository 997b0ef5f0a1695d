"""Supervised long-running tasks: one small helper instead of bare ``create_task`` calls.

A task started here never ends silently. When its coroutine raises, the failure is logged
with its traceback, reported through the task's ``on_crash`` callback (the core publishes
it), and the coroutine is started again after an exponential back-off. The back-off resets
once a run lasted ``healthy_after_s``. A coroutine that returns has finished its work (the
sink after ``close()``): it leaves the supervisor.

``alive`` is what the systemd watchdog asks before each ping: every supervised task is
running or waiting for its restart. It turns false when the supervision itself broke (a
crash report that raised, a ``BaseException``), and the watchdog then lets systemd restart
the process.

``first_completed`` is the "wait for the first, cancel the rest, collect them" that several
places needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from bridge.clock import SYSTEM_CLOCK, Clock

__all__ = ["CrashReport", "Supervisor", "backoff_ceiling", "first_completed", "full_jitter"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# on_crash(name, exception, restart in seconds)
CrashReport = Callable[[str, BaseException, float], None]


@dataclass(slots=True)
class _Supervised:
    factory: Callable[[], Awaitable[None]]
    on_crash: CrashReport | None
    task: asyncio.Task[None] | None = None
    crashes: int = 0
    failures: int = 0  # consecutive crashes: the back-off depth


def backoff_ceiling(attempt: int, *, base: float, cap: float) -> float:
    """Exponential back-off: ``base``·2^attempt, at most ``cap``."""
    return min(cap, base * 2.0 ** min(attempt, 30))


def full_jitter(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Uniform in [0, the ceiling] (AWS "full jitter"), so many clients do not herd."""
    return rng.uniform(0.0, backoff_ceiling(attempt, base=base, cap=cap))


class Supervisor:
    """Named long-running tasks, each restarted with back-off when it crashes."""

    def __init__(
        self,
        *,
        clock: Clock = SYSTEM_CLOCK,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        healthy_after_s: float = 60.0,
    ) -> None:
        self._clock = clock
        self._initial_s = backoff_initial_s
        self._max_s = backoff_max_s
        self._healthy_after_s = healthy_after_s
        self._tasks: dict[str, _Supervised] = {}

    def start(
        self,
        name: str,
        factory: Callable[[], Awaitable[None]],
        *,
        on_crash: CrashReport | None = None,
    ) -> None:
        """Run ``factory()`` as task ``name`` until ``stop(name)`` or ``close()``."""
        if name in self._tasks:
            raise ValueError(f"task {name!r} is already supervised")
        entry = _Supervised(factory, on_crash)
        self._tasks[name] = entry
        entry.task = asyncio.create_task(self._keep(name, entry), name=name)

    async def stop(self, name: str) -> None:
        """Cancel task ``name`` and wait for it to finish its clean-up."""
        entry = self._tasks.pop(name, None)
        if entry is not None and entry.task is not None:
            await _cancel(entry.task)

    async def close(self) -> None:
        entries, self._tasks = list(self._tasks.values()), {}
        await asyncio.gather(*(_cancel(e.task) for e in entries if e.task is not None))

    @property
    def names(self) -> list[str]:
        return list(self._tasks)

    def crashes(self, name: str) -> int:
        """How often task ``name`` crashed (0 for an unknown name)."""
        entry = self._tasks.get(name)
        return entry.crashes if entry is not None else 0

    @property
    def alive(self) -> bool:
        """Every task runs or waits for its restart (the watchdog's question)."""
        return all(e.task is not None and not e.task.done() for e in self._tasks.values())

    async def _keep(self, name: str, entry: _Supervised) -> None:
        while True:
            started = self._clock.monotonic()
            try:
                await entry.factory()
            except Exception as exc:
                if self._clock.monotonic() - started >= self._healthy_after_s:
                    entry.failures = 0
                delay = self._delay(entry)
                entry.crashes += 1
                log.error("%s crashed; restart in %.1f s", name, delay, exc_info=exc)
                self._report(name, entry, exc, delay)
            else:
                log.debug("%s finished", name)
                if self._tasks.get(name) is entry:
                    del self._tasks[name]
                return
            await self._clock.sleep(delay)

    @staticmethod
    def _report(name: str, entry: _Supervised, exc: BaseException, delay: float) -> None:
        if entry.on_crash is None:
            return
        try:
            entry.on_crash(name, exc, delay)
        except Exception:
            # Supervision itself is broken: this task stays dead and `alive` says so.
            log.critical("%s: reporting its crash failed; not restarted", name, exc_info=True)
            raise

    def _delay(self, entry: _Supervised) -> float:
        delay = backoff_ceiling(entry.failures, base=self._initial_s, cap=self._max_s)
        entry.failures += 1
        return delay


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    # A task that died of a broken crash report was logged when it died.
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def first_completed(*coros: Coroutine[Any, Any, T]) -> T:
    """Run ``coros`` side by side; the first to finish gives the result (or raises), the
    others are cancelled and awaited. When several finished in the same turn, the earliest
    in argument order wins."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return next(t for t in tasks if t in done).result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
