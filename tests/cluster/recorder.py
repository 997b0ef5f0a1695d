"""Records every start/stop decision of every member and checks the one invariant.

"At no moment two watchers": replaying the decisions in time order (time.monotonic() is
CLOCK_MONOTONIC, shared by every process on the machine), a start of a streamer while
another member still watches it is a violation. Fencing tokens of successive starts of one
streamer must increase.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from bridge.cluster import StopReason


@dataclass(frozen=True, slots=True)
class Decision:
    t: float
    member: str
    kind: str  # "start" | "stop"
    user: str
    token: int | None = None
    reason: str | None = None


class Recorder:
    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.watching: dict[str, set[str]] = defaultdict(set)
        self.violations: list[str] = []
        self._changed = asyncio.Event()

    def listener(self, member: str) -> MemberListener:
        return MemberListener(self, member)

    def record(self, decision: Decision) -> None:
        self.decisions.append(decision)
        watchers = self.watching[decision.user]
        if decision.kind == "start":
            if watchers - {decision.member}:
                self.violations.append(
                    f"{decision.member} started {decision.user} while {watchers} watch it"
                )
            watchers.add(decision.member)
        else:
            watchers.discard(decision.member)
        self._changed.set()

    def member_died(self, member: str, t: float) -> None:
        """A killed process stops watching everything at once."""
        for user, watchers in list(self.watching.items()):
            if member in watchers:
                self.record(Decision(t, member, "stop", user, reason="killed"))

    # -- queries -------------------------------------------------------------------------

    def owners(self) -> dict[str, set[str]]:
        return {user: set(w) for user, w in self.watching.items() if w}

    def counts(self) -> Counter[str]:
        return Counter(m for watchers in self.watching.values() for m in watchers)

    def starts(self, user: str) -> list[Decision]:
        return [d for d in self.decisions if d.user == user and d.kind == "start"]

    def check(self) -> None:
        """The invariants, replayed in time order (catches cross-process interleavings)."""
        assert not self.violations, self.violations[:5]
        watching: dict[str, set[str]] = defaultdict(set)
        last_token: dict[str, int] = {}
        for d in sorted(self.decisions, key=lambda d: d.t):
            if d.kind == "start":
                others = watching[d.user] - {d.member}
                assert not others, f"{d.member} started {d.user} at {d.t} while {others} watch"
                watching[d.user].add(d.member)
                assert d.token is not None
                assert d.token > last_token.get(d.user, -1), f"token of {d.user} not increasing"
                last_token[d.user] = d.token
            else:
                watching[d.user].discard(d.member)

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109 - a bounded wait for a condition, like MqttRecorder
        what: str = "condition",
    ) -> float:
        """Wait for ``predicate`` (checked after every decision and every 50 ms); returns
        the monotonic time at which it held."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.05))
        return time.monotonic()


class MemberListener:
    """The OwnershipListener of one member: records its decisions."""

    def __init__(self, recorder: Recorder, member: str) -> None:
        self.recorder = recorder
        self.member = member

    async def start_watching(self, user: str, token: int) -> None:
        self.recorder.record(Decision(time.monotonic(), self.member, "start", user, token))

    async def stop_watching(self, user: str, reason: StopReason) -> None:
        self.recorder.record(
            Decision(time.monotonic(), self.member, "stop", user, reason=str(reason))
        )
