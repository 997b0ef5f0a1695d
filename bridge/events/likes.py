"""Like batching: one like event per window, with a room total that never goes backwards.

TikTok sends at most 15 likes per message and many messages per second in busy rooms, and its
room ``total`` is not monotonic (server shards interleave), while Home Assistant's
``total_increasing`` sensors read any drop as a meter reset. So: sum counts over the window and
publish the highest total seen in this stream.
"""

from __future__ import annotations

from dataclasses import replace

from bridge.events.model import LikeEvent


class LikeBatcher:
    def __init__(self, *, window_s: float = 1.0):
        self.window_s = window_s
        self.max_total = 0
        self._first: LikeEvent | None = None  # opens the window
        self._last: LikeEvent | None = None
        self._count = 0
        self._user_ids: set[int] = set()
        self._deadline = 0.0

    def feed(self, event: LikeEvent, now: float) -> list[LikeEvent]:
        """One like message → events to publish now (a closed window, or this one if window 0)."""
        # Per like message (the most frequent in a busy room): no calls that can be avoided.
        if event.total > self.max_total:
            self.max_total = event.total
        if self.window_s <= 0:
            return [replace(event, total=self.max_total, users=1)]
        out = self.flush() if self._last is not None and now >= self._deadline else []
        if self._last is None:
            self._deadline = now + self.window_s
        self._last = event
        self._count += event.count
        self._user_ids.add(event.user.id if event.user is not None else 0)
        return out

    @property
    def pending(self) -> bool:
        """A window is open (it closes in ``expire`` or ``flush``)."""
        return self._last is not None

    def expire(self, now: float) -> list[LikeEvent]:
        """Close the window if its time is up."""
        if self._last is None or now < self._deadline:
            return []
        return self.flush()

    def flush(self) -> list[LikeEvent]:
        """Close the open window now (end of stream or end of input)."""
        last = self._last
        if last is None:
            return []
        users = len(self._user_ids)
        # The event carries the latest message's id and time; a single liker keeps their user.
        event = replace(
            last,
            count=self._count,
            total=self.max_total,
            users=users,
            user=last.user if users == 1 else None,
        )
        self._last = None
        self._count = 0
        self._user_ids = set()
        return [event]
