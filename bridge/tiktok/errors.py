"""Typed errors of the TikTok source.

Each error carries ``status``: the streamer status the supervisor publishes for it
(docs/mqtt-api.md), so the mapping lives in one place.
"""

from __future__ import annotations


class TikTokError(Exception):
    status = "error"
    # Whether retrying soon can help (transport hiccup) or only after a long back-off.
    transient = True


class UserNotFound(TikTokError):
    status = "not_found"
    transient = False


class UserOffline(TikTokError):
    status = "waiting_for_live"


class AgeRestricted(TikTokError):
    """The room needs a logged-in session (18+)."""

    status = "age_restricted"
    transient = False


class Blocked(TikTokError):
    """Captcha / challenge page / WAF / device blocked."""

    status = "blocked"
    transient = False


class RateLimited(TikTokError):
    """HTTP 429 (TikTok or sign server). ``retry_at`` is a unix timestamp (RateLimit-Reset)."""

    status = "rate_limited"

    def __init__(self, message: str, retry_at: float | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class SignServerUnavailable(TikTokError):
    """Sign server down, 5xx, empty body, missing cookies, or refusing our key (401/402/403)."""

    status = "sign_unavailable"


class SessionExpired(TikTokError):
    status = "auth_expired"
    transient = False


class HandshakeRejected(Blocked):
    """The push WebSocket upgrade was refused (400, 200 instead of 101, 415 DEVICE_BLOCKED)."""

    def __init__(self, message: str, http_status: int, handshake_msg: str | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.handshake_msg = handshake_msg


class ConnectionLost(TikTokError):
    """The push connection closed, failed or went silent (stale). Not a stream end."""

    status = "error"


class ChatNotAvailable(TikTokError):
    """Sending chat is impossible with this configuration (no session/sign server, refused)."""

    status = "error"
    transient = False
