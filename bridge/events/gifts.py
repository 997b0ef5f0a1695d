"""Gift streaks: exactly one final gift event per streak, and diamond tiers.

TikTok repeats a streakable (type 1) gift while the viewer keeps tapping: same ``group_id``,
``repeat_end`` 0 and a growing running ``repeat_count``; a last message with ``repeat_end`` 1
repeats the final count a few seconds later. Some regions never send that last message, so a
streak idle for ``timeout_s`` is finalised by ``expire`` and any late ``repeat_end`` 1 for it is
then swallowed. Non-streakable gifts arrive once (with ``repeat_end`` 0!) and are final at once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bridge.events.model import GiftEvent
from bridge.settings.streamer import GiftTier

StreakKey = tuple[int, int, int]  # (user id, gift id, group id)


def gift_tier(diamonds: int, tiers: Sequence[GiftTier]) -> str:
    """Name of the highest tier whose ``min_diamonds`` <= ``diamonds``.

    Below the lowest tier (e.g. a 0-diamond gift) the lowest tier's name is used, so every
    gift event has a tier from the configured, finite list (HA needs fixed event_types).
    """
    if not tiers:
        return "gift"
    ordered = sorted(tiers, key=lambda t: t.min_diamonds)
    name = ordered[0].name
    for tier in ordered:
        if tier.min_diamonds > diamonds:
            break
        name = tier.name
    return name


def streak_key(event: GiftEvent) -> StreakKey:
    user_id = event.user.id if event.user is not None else 0
    return (user_id, event.gift.id, event.group_id)


@dataclass(slots=True)
class _Streak:
    last: GiftEvent  # latest message of the streak (count = running total)
    updated_at: float


class GiftStreaks:
    """Turns raw gift messages (as GiftEvents) into final events (and optional progress)."""

    def __init__(self, *, timeout_s: float = 10.0, progress: bool = False, memory: int = 2048):
        self.timeout_s = timeout_s
        self.progress = progress
        self._open: dict[StreakKey, _Streak] = {}
        # Finalised streak keys, bounded FIFO: a late repeat_end=1 or a straggling repeat
        # after a timeout must not produce a second final event.
        self._done: OrderedDict[StreakKey, None] = OrderedDict()
        self._memory = memory
        # No open streak was updated before this (a lower bound: updates only move times
        # forward): expire, called for every frame, skips the scan until it can find one.
        self._oldest = float("inf")

    @property
    def open_streaks(self) -> int:
        return len(self._open)

    def feed(self, event: GiftEvent, now: float) -> list[GiftEvent]:
        """One gift message (``final`` = repeat_end 1) → events to publish now."""
        if not event.gift.streakable:
            # Non-streakable gifts never send repeat_end 1: waiting would lose them.
            return [replace(event, final=True)]
        key = streak_key(event)
        if key in self._done:
            return []
        streak = self._open.get(key)
        if event.final:
            count = max(event.count, streak.last.count if streak else 0, 1)
            self._open.pop(key, None)
            return [self._finish(key, replace(event, count=count))]
        if streak is not None and event.count < streak.last.count:
            # Out-of-order repeat: keep the highest running total, just refresh the timer.
            streak.updated_at = now
            return []
        self._open[key] = _Streak(last=event, updated_at=now)
        self._oldest = min(self._oldest, now)
        return [event] if self.progress else []

    def expire(self, now: float) -> list[GiftEvent]:
        """Finalise streaks with no update for ``timeout_s`` (their repeat_end 1 was lost)."""
        if now - self._oldest < self.timeout_s:
            return []
        stale = [k for k, s in self._open.items() if now - s.updated_at >= self.timeout_s]
        out: list[GiftEvent] = []
        for key in stale:
            streak = self._open.pop(key)
            out.append(self._finish(key, replace(streak.last, final=True)))
        self._oldest = min((s.updated_at for s in self._open.values()), default=float("inf"))
        return out

    def flush(self) -> list[GiftEvent]:
        """Finalise every open streak (end of stream or end of input)."""
        return self.expire(float("inf"))

    def _finish(self, key: StreakKey, event: GiftEvent) -> GiftEvent:
        self._done[key] = None
        if len(self._done) > self._memory:
            self._done.popitem(last=False)
        return event
