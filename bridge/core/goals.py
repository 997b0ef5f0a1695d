"""Stream goals and the top-gifters leaderboard of one streamer (docs/mqtt-api.md).

Pure bookkeeping, no I/O and no clock of its own: the publisher passes the totals of its one
StreamerState (the numbers of the likes, diamonds and follows sensors) and the time. A goal's
value is such a total minus a baseline (0 when the stream starts, the total at a reset), not
a counter of its own, so a goal and its sensor can never disagree.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.core.state import StreamerState, iso_utc
from bridge.events import User, iso_ts
from bridge.settings.streamer import GOAL_MAX, GOALS

# Live text in the leaderboard is cut to this: its size stays bounded whatever viewers call
# themselves (TikTok's own limit is 30 characters).
NAME_CHARS = 64
# Gifters remembered per stream. Beyond it the lower half is forgotten: the top entries stay
# exact unless a stream has thousands of gifters, and memory stays bounded (~0.5 MB).
MAX_TRACKED = 2000

Totals = Mapping[str, int]


def totals_of(state: StreamerState) -> dict[str, int]:
    """The per-stream totals the goals follow: the StreamerState fields of the same name."""
    return {name: getattr(state, name) for name in GOALS}


# ---------------------------------------------------------------- goals


@dataclass(slots=True)
class Goal:
    target: int = 0  # 0: no goal
    baseline: int = 0  # the total when progress last started from zero
    reached_at: float | None = None  # unix seconds

    def value(self, total: int) -> int:
        # max(): after a restart mid-stream diamonds restart at 0 while a baseline survives.
        return max(0, total - self.baseline)

    def to_dict(self, total: int) -> dict[str, Any]:
        value = self.value(total)
        percent = min(100.0, round(value * 100 / self.target, 1)) if self.target else None
        return {
            "target": self.target,
            "value": value,
            "percent": percent,
            "reached": self.reached_at is not None,
            "reached_at": iso_utc(self.reached_at),
        }


class StreamGoals:
    """The like, diamond and follow goals of one streamer for the current stream.

    ``resume``: a ``snapshot()`` saved before a restart; applied only if the first stream
    started is the same room, so a goal reached before the restart does not fire again.
    """

    def __init__(self, targets: Mapping[str, int], resume: Mapping[str, Any] | None = None):
        self.goals = {name: Goal(target=targets.get(name, 0)) for name in GOALS}
        self.room_id: int | None = None
        self._resume = resume
        self.waiting = False  # some goal can still be reached: check() has work to do
        self._update()

    def _update(self) -> None:
        # Kept as a flag: the publisher asks for every event, and mostly no goal is set.
        self.waiting = any(g.target and g.reached_at is None for g in self.goals.values())

    @property
    def targets(self) -> dict[str, int]:
        return {name: goal.target for name, goal in self.goals.items()}

    def set_targets(self, targets: Mapping[str, int]) -> list[str]:
        """Change the given targets; a goal whose target changed waits for it anew (its
        progress stays). Returns the names that changed."""
        changed = []
        for name, target in targets.items():
            goal = self.goals[name]
            if goal.target != target:
                goal.target, goal.reached_at = target, None
                changed.append(name)
        self._update()
        return changed

    def start(self, room_id: int) -> None:
        """A stream begins: every goal from zero, or as saved if it is the saved stream."""
        resume, self._resume = self._resume, None
        self.room_id = room_id
        for goal in self.goals.values():
            goal.baseline, goal.reached_at = 0, None
        if resume is not None and resume.get("room_id") == str(room_id):
            self._restore(resume.get("goals"))
        self._update()

    def _restore(self, saved: Any) -> None:
        if not isinstance(saved, Mapping):
            return
        for name, goal in self.goals.items():
            entry = saved.get(name)
            if not isinstance(entry, Mapping):
                continue
            goal.baseline = count_or(entry.get("baseline"), 0)
            # Reached counts only for the same target: an edited goal is a new goal.
            if entry.get("target") == goal.target:
                goal.reached_at = _time_or_none(entry.get("reached_at"))

    def reset(self, names: Iterable[str], totals: Totals) -> None:
        """Progress of these goals starts over from now; targets stay."""
        for name in names:
            goal = self.goals[name]
            goal.baseline, goal.reached_at = totals[name], None
        self._update()

    def check(self, totals: Totals, now: float) -> list[str]:
        """Goals reached just now (each once until the next stream, reset or target change)."""
        reached = []
        for name, goal in self.goals.items():
            if goal.target and goal.reached_at is None and goal.value(totals[name]) >= goal.target:
                goal.reached_at = now
                reached.append(name)
        if reached:
            self._update()
        return reached

    def to_dict(self, totals: Totals) -> dict[str, Any]:
        """The retained ``<base>/<user>/goals`` payload."""
        return {name: goal.to_dict(totals[name]) for name, goal in self.goals.items()}

    def event(self, name: str, totals: Totals, user: User | None) -> dict[str, Any]:
        """The ``goal`` event of a goal just reached (the envelope of every event)."""
        goal = self.goals[name]
        reached_at = goal.reached_at or 0.0
        return {
            "type": "goal",
            "event_type": name,
            "ts": iso_ts(int(reached_at * 1000)),
            "room_id": str(self.room_id or 0),
            "msg_id": "0",  # made by the bridge, as the stream "started" event
            "user": user.to_dict() if user is not None else None,
            "target": goal.target,
            "value": goal.value(totals[name]),
        }

    def snapshot(self) -> dict[str, Any]:
        """What a restart in the middle of this stream needs (runtime.json)."""
        return {
            "room_id": str(self.room_id) if self.room_id is not None else None,
            "goals": {
                name: {"target": g.target, "baseline": g.baseline, "reached_at": g.reached_at}
                for name, g in self.goals.items()
            },
        }


def count_or(value: Any, default: int) -> int:
    """`value` if it is a goal count (0 to GOAL_MAX), else `default` (runtime.json is a file
    people may edit)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= GOAL_MAX:
        return value
    return default


def _time_or_none(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


# ---------------------------------------------------------------- leaderboard


@dataclass(slots=True)
class _Gifter:
    user_id: int
    unique_id: str
    nickname: str
    order: int  # when the first gift came: of two equal totals the earlier ranks higher
    diamonds: int = 0
    gifts: int = 0


def _rank_key(gifter: _Gifter) -> tuple[int, int]:
    return -gifter.diamonds, gifter.order


class Leaderboard:
    """Top gifters of the current stream by diamonds of finished gifts (as state.diamonds).

    ``version`` changes with every change, so the publisher sends only new boards.
    """

    def __init__(self, size: int, *, tracked: int = MAX_TRACKED) -> None:
        self.size = size
        self.room_id: int | None = None
        self.version = 0
        self._tracked = max(tracked, 2 * size)
        self._gifters: dict[int, _Gifter] = {}
        self._order = 0

    def start(self, room_id: int | None) -> None:
        """A new stream (or a reset): an empty board."""
        self.room_id = room_id
        self._gifters.clear()
        self.version += 1

    def resize(self, size: int) -> None:
        self.size = size
        self._tracked = max(self._tracked, 2 * size)
        self.version += 1

    def add(self, user: User | None, diamonds: int, count: int) -> None:
        """A finished gift (streak) worth ``diamonds`` in all, ``count`` items."""
        if self.size <= 0 or user is None or diamonds <= 0:
            return
        gifter = self._gifters.get(user.id)
        if gifter is None:
            self._order += 1
            gifter = self._gifters[user.id] = _Gifter(user.id, "", "", self._order)
        # The latest handle and nickname: viewers rename themselves during a stream.
        gifter.unique_id = user.unique_id[:NAME_CHARS]
        gifter.nickname = user.nickname[:NAME_CHARS]
        gifter.diamonds += diamonds
        gifter.gifts += max(count, 0)
        self.version += 1
        if len(self._gifters) > self._tracked:
            keep = heapq.nsmallest(self._tracked // 2, self._gifters.values(), key=_rank_key)
            self._gifters = {g.user_id: g for g in keep}

    def to_dict(self) -> dict[str, Any]:
        """The retained ``<base>/<user>/leaderboard`` payload."""
        best = heapq.nsmallest(self.size, self._gifters.values(), key=_rank_key)
        return {
            "room_id": str(self.room_id) if self.room_id is not None else None,
            "top": [
                {
                    "rank": rank,
                    "user_id": str(g.user_id),
                    "unique_id": g.unique_id,
                    "nickname": g.nickname,
                    "diamonds": g.diamonds,
                    "gifts": g.gifts,
                }
                for rank, g in enumerate(best, start=1)
            ],
        }
