"""Outgoing chat: per-streamer token bucket and text sanitising.

A chat message reaches a live audience, so every path is explicit: disabled unless
configured, rate limited without queueing (a refused message is answered with an error
saying when to retry, never sent late), and stripped of control characters so a command
payload cannot smuggle newlines into the room.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable

from bridge.settings.streamer import ChatSendSettings


class ChatRefused(Exception):
    """The message was not sent; ``str(exc)`` is the human reason for the response."""


class TokenBucket:
    """``burst`` tokens, one more every ``interval_s`` seconds."""

    def __init__(
        self, interval_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = max(interval_s, 0.0)
        self._burst = max(burst, 1)
        self._clock = clock
        self._tokens = float(self._burst)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        if self._interval == 0:
            self._tokens = float(self._burst)
        else:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) / self._interval)
        self._stamp = now

    def take(self) -> float:
        """Take a token; returns 0.0 on success, else the seconds until one is available."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) * self._interval


def sanitise(text: str) -> str:
    """Newlines/tabs → space, other control and format characters dropped, trimmed."""
    out: list[str] = []
    for ch in text:
        if ch in "\r\n\t\v\f\u2028\u2029":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
            continue
        else:
            out.append(ch)
    return " ".join("".join(out).split())


class ChatGate:
    """Decides whether one message may be sent now, and in which form."""

    def __init__(
        self, settings: ChatSendSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._bucket = TokenBucket(settings.min_interval_s, settings.burst, clock=clock)

    def prepare(self, text: str, room_id: int | None) -> str:
        """Return the text to send, or raise ChatRefused (the token is only taken if sendable)."""
        if not self.settings.enabled:
            raise ChatRefused("chat sending disabled for this streamer")
        clean = sanitise(text)
        if not clean:
            raise ChatRefused("empty message")
        if len(clean) > self.settings.max_length:
            raise ChatRefused(f"message too long ({len(clean)} > {self.settings.max_length})")
        if room_id is None:
            raise ChatRefused("not live")
        wait = self._bucket.take()
        if wait > 0:
            raise ChatRefused(f"rate limited, retry in {wait:.1f} s")
        return clean
