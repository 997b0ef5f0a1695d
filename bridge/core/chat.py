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

from bridge.ratelimit import TokenBucket
from bridge.settings.streamer import ChatSendSettings


class ChatRefused(Exception):
    """The message was not sent; ``str(exc)`` is the human reason for the response."""


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
