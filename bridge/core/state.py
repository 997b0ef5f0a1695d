"""The retained per-streamer snapshot published on ``<base>/<user>/state``.

Pure bookkeeping, no I/O: the supervisor changes it, the publisher serialises it.
Per-stream totals (likes, diamonds, follows, shares) only ever grow within one stream
because Home Assistant's ``total_increasing`` sensors read any drop as a meter reset;
they restart from zero when a new stream (room id) begins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Statuses in which the bridge cannot watch the account at all (availability "offline").
# "paused" stays online on purpose: the HA "watching" switch must remain usable to resume.
UNAVAILABLE_STATUSES = frozenset(
    {"not_found", "blocked", "age_restricted", "auth_expired", "stopped"}
)


def iso_utc(ts: float | None) -> str | None:
    """Unix seconds → ``2026-11-22T01:40:12Z`` (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class StreamerState:
    status: str = "waiting_for_live"
    live: bool = False
    room_id: int | None = None
    title: str | None = None
    live_since: float | None = None  # unix seconds
    viewers: int = 0
    likes: int = 0
    diamonds: int = 0
    follows: int = 0
    shares: int = 0
    last_event: float | None = None  # unix seconds
    retry_at: float | None = None  # unix seconds, only with status rate_limited
    reason: str | None = None  # why the status is what it is, for people; None when fine

    @property
    def available(self) -> bool:
        return self.status not in UNAVAILABLE_STATUSES

    def start_stream(self, room_id: int, *, title: str | None, since: float) -> None:
        """A new stream: counters restart (a new total_increasing cycle)."""
        self.room_id = room_id
        self.title = title
        self.live_since = since
        self.viewers = 0
        self.likes = self.diamonds = self.follows = self.shares = 0

    def set_status(
        self, status: str, *, retry_at: float | None = None, reason: str | None = None
    ) -> None:
        self.status = status
        self.retry_at = retry_at if status == "rate_limited" else None
        self.reason = reason

    # Counters: max() keeps them monotonic even if TikTok's own totals jitter backwards.
    def raise_likes(self, total: int) -> None:
        self.likes = max(self.likes, total)

    def add_likes(self, count: int) -> None:
        self.likes += max(0, count)

    def add_diamonds(self, diamonds: int) -> None:
        self.diamonds += max(0, diamonds)

    def add_follow(self) -> None:
        self.follows += 1

    def add_share(self) -> None:
        self.shares += 1

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "live": self.live,
            "status": self.status,
            "reason": self.reason,
            "room_id": str(self.room_id) if self.room_id else None,
            "title": self.title,
            "live_since": iso_utc(self.live_since) if self.live else None,
            "viewers": self.viewers,
            "likes": self.likes,
            "diamonds": self.diamonds,
            "follows": self.follows,
            "shares": self.shares,
            "last_event": iso_utc(self.last_event),
        }
        if self.retry_at is not None:
            data["retry_at"] = iso_utc(self.retry_at)
        return data
