"""Typed errors of the TikTok source.

Each error carries ``status``: the streamer status the supervisor publishes for it
(docs/mqtt-api.md), and ``reason``: one line for people, published beside it in
``<user>/state``; so the mapping lives in one place (docs/protocol.md §7). Messages are
built from fixed text and TikTok's answers, never from URLs, cookies or credentials.
"""

from __future__ import annotations

import errno
import socket
import ssl


class TikTokError(Exception):
    status = "error"
    # Whether retrying soon can help (transport hiccup) or only after a long back-off.
    transient = True
    # What went wrong, for people; the message adds the detail (which call, what answer).
    summary = "TikTok error"

    @property
    def reason(self) -> str:
        """``summary: message``, the human-readable line of ``<user>/state``."""
        detail = str(self)
        return f"{self.summary}: {detail}" if detail else self.summary


class Unreachable(TikTokError):
    """The connection itself failed (DNS, refused, timed out, TLS, proxy): no answer at all."""

    summary = "cannot reach TikTok"

    def __init__(self, what: str, cause: str, *, target: str = "TikTok") -> None:
        super().__init__(f"{what}: {cause}")
        self.cause = cause
        self.target = target

    @property
    def reason(self) -> str:
        return f"cannot reach {self.target}: {self.cause}"


def network_cause(exc: BaseException) -> str:
    """Why a connection failed, in words, from the exception chain (httpx, websockets and
    python-socks all wrap the OSError that says it). Only fixed text: exception messages
    can carry a proxy URL with its password."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        cause = _cause_of(current)
        if cause is not None:
            return cause
        current = current.__cause__ or current.__context__
    return type(exc).__name__


def _cause_of(exc: BaseException) -> str | None:
    if isinstance(exc, socket.gaierror):
        return "name resolution failed"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLS certificate not trusted"
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed"
    if "Proxy" in type(exc).__name__:
        return "the proxy refused or failed the connection"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
        return "connection timed out"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "network unreachable"
    return None


def describe(exc: BaseException) -> str:
    """The ``reason`` of any failure of a streamer's watch (TikTok errors say it best)."""
    if isinstance(exc, TikTokError):
        return exc.reason
    return f"internal error: {type(exc).__name__} (see the log)"


class UserNotFound(TikTokError):
    status = "not_found"
    transient = False
    summary = "TikTok does not know this user"


class UserOffline(TikTokError):
    status = "waiting_for_live"
    summary = "not live"


class AgeRestricted(TikTokError):
    """The room needs a logged-in session (18+)."""

    status = "age_restricted"
    transient = False
    summary = "age-restricted stream: a logged-in session (tiktok.session) is needed"


class Blocked(TikTokError):
    """Captcha / challenge page / WAF / device blocked."""

    status = "blocked"
    transient = False
    summary = "TikTok blocked the request (captcha, IP or device block)"


class RateLimited(TikTokError):
    """HTTP 429 (TikTok or sign server). ``retry_at`` is a unix timestamp (RateLimit-Reset)."""

    status = "rate_limited"
    summary = "rate limited"

    def __init__(self, message: str, retry_at: float | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class SignServerUnavailable(TikTokError):
    """Sign server down, 5xx, empty body, missing cookies, or refusing our key (401/402/403)."""

    status = "sign_unavailable"
    summary = "sign server unavailable"


class SessionExpired(TikTokError):
    status = "auth_expired"
    transient = False
    summary = "the TikTok session was refused (expired or logged out)"


class HandshakeRejected(Blocked):
    """The push WebSocket upgrade was refused (400, 200 instead of 101, 415 DEVICE_BLOCKED)."""

    summary = "TikTok refused the live connection"

    def __init__(self, message: str, http_status: int, handshake_msg: str | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.handshake_msg = handshake_msg


class ConnectionLost(TikTokError):
    """The push connection closed, failed or went silent (stale). Not a stream end."""

    status = "error"
    summary = "live connection failed"


class ChatNotAvailable(TikTokError):
    """Sending chat is impossible with this configuration (no session/sign server, refused)."""

    status = "error"
    transient = False
    summary = "cannot send chat"
