"""Euler-compatible sign server: the signed initial fetch (push server + cookies) and chat.

The sign server performs TikTok's signed ``im/fetch`` for us and returns its protobuf
answer plus the TikTok cookies the socket must present (docs/protocol.md §4.2, §4.4).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from bridge import __version__
from bridge.settings.tiktok import Session, TikTokSettings
from bridge.tiktok import params
from bridge.tiktok.budget import CallBudget
from bridge.tiktok.errors import (
    ChatNotAvailable,
    SessionExpired,
    SignServerUnavailable,
    TikTokError,
    network_cause,
)
from bridge.tiktok.frames import FrameError, as_text, decode_fetch_result
from bridge.tiktok.http import rate_limited
from bridge.tiktok.params import BrowserIdentity
from bridge.tiktok.pb import webcast_pb2 as pb

log = logging.getLogger(__name__)

CLIENT_NAME = "tiktok2mqtt"
# TikTok's "not logged in / session expired" answer to a chat send (docs/protocol.md §4.4).
STATUS_SESSION_EXPIRED = 20003


@dataclass(frozen=True, slots=True)
class SignedFetch:
    """The sign server's answer: TikTok's initial fetch result and the socket cookies."""

    result: pb.FetchResult
    cookies: Mapping[str, str] = field(repr=False)  # ttwid & co: secrets of this attempt
    room_id: int | None = None  # X-Room-Id, when the server says which room it fetched


def _unavailable(message: str, *, transient: bool = True) -> SignServerUnavailable:
    error = SignServerUnavailable(message)
    # The class default is transient; a refused key does not heal by retrying soon.
    error.transient = transient
    return error


def _refusal(status: int, what: str) -> SignServerUnavailable:
    if status == 402:
        return _unavailable(f"{what}: HTTP 402, a paid sign-server plan is needed", transient=False)
    return _unavailable(
        f"{what}: HTTP {status}, the sign server refused the API key (missing, wrong or "
        "not allowed for this feature)",
        transient=False,
    )


def validate_fetch_result(result: pb.FetchResult) -> None:
    """No cursor or push_server, or a fallback stub host: an outage (docs/protocol.md §4.2)."""
    if not as_text(result.cursor):
        raise _unavailable("sign server: fetch result has no cursor")
    push_server = as_text(result.push_server)
    if not push_server:
        raise _unavailable("sign server: fetch result has no push_server")
    parts = urlsplit(push_server)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise _unavailable("sign server: push_server is not a ws(s) URL")
    # During outages the sign server handed out a ws-fallback stub host that never connects.
    if parts.hostname.startswith("ws-fallback"):
        raise _unavailable("sign server: returned its fallback stub instead of a push server")


class SignClient:
    """Calls to the sign server; shares the HTTP client (proxy) and budget of TikTokHttp."""

    def __init__(
        self, settings: TikTokSettings, client: httpx.AsyncClient, budget: CallBudget
    ) -> None:
        self._settings = settings
        self._client = client
        self._budget = budget

    @property
    def _base(self) -> str:
        return self._settings.sign_server_url.rstrip("/")

    def _headers(self, accept: str) -> dict[str, str]:
        headers = {"User-Agent": f"{CLIENT_NAME}/{__version__}", "Accept": accept}
        if self._settings.sign_api_key:
            headers["X-Api-Key"] = self._settings.sign_api_key
        return headers

    async def _send(self, request: httpx.Request, what: str) -> httpx.Response:
        await self._budget.acquire("sign")
        try:
            response = await self._client.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as exc:
            raise _unavailable(f"{what}: cannot connect ({network_cause(exc)})") from None
        except httpx.TimeoutException:
            raise _unavailable(f"{what}: timed out") from None
        except httpx.HTTPError as exc:
            # Only the class name: transport messages may carry proxy URLs.
            raise _unavailable(f"{what}: {type(exc).__name__}") from None
        if response.status_code == 429:
            raise rate_limited(response, what, self._budget)
        if response.status_code in (401, 402, 403):
            raise _refusal(response.status_code, what)
        if response.status_code >= 500:
            raise _unavailable(f"{what}: HTTP {response.status_code}")
        return response

    async def fetch(self, room_id: int, identity: BrowserIdentity) -> SignedFetch:
        """GET /webcast/fetch: the room's initial fetch result, signed for ``identity``."""
        query = {
            "client": CLIENT_NAME,
            "room_id": str(room_id),
            # The sign server must sign for the UA our socket will use (docs/protocol.md §2.2).
            "user_agent": identity.user_agent,
            "client_enter": "true",
            "platform": "web",
        }
        headers = self._headers("application/protobuf,application/json")
        session = self._settings.login
        if session is not None and self._settings.session_to_sign_server:
            # In a header, not the query: URLs end up in logs and proxy access logs.
            headers["x-cookie-header"] = _session_cookie_header(session)
        request = self._client.build_request(
            "GET", f"{self._base}/webcast/fetch", params=query, headers=headers
        )
        response = await self._send(request, "sign server fetch")
        return _signed_fetch(response)

    async def send_chat(self, room_id: int, text: str) -> None:
        """POST /webcast/chat with the session cookie header (Euler premium feature)."""
        session = self._settings.login
        if session is None:
            raise ChatNotAvailable("sending chat needs a logged-in TikTok session")
        if not self._settings.sign_api_key:
            raise ChatNotAvailable("sending chat needs a sign-server API key")
        # Chat goes through the sign server with the session cookie: the session id leaves
        # for a third party, so it needs the same explicit opt-in as authenticated fetches.
        if not self._settings.session_to_sign_server:
            raise ChatNotAvailable(
                "sending chat passes the session to the sign server; "
                "allow it with tiktok.sign_server.send_session: true"
            )
        headers = self._headers("application/json")
        headers["x-cookie-header"] = _session_cookie_header(session)
        request = self._client.build_request(
            "POST",
            f"{self._base}/webcast/chat",
            json={"content": text, "targetRoomId": str(room_id)},
            headers=headers,
        )
        try:
            response = await self._send(request, "sign server chat")
        except SignServerUnavailable as exc:
            if not exc.transient:  # refused key / plan: chat is simply not available
                raise ChatNotAvailable(str(exc)) from None
            raise
        _check_chat_answer(response)


def _session_cookie_header(session: Session) -> str:
    return params.cookie_header(
        {"sessionid": session.session_id, "tt-target-idc": session.tt_target_idc}
    )


def _signed_fetch(response: httpx.Response) -> SignedFetch:
    if response.status_code != 200:
        raise _unavailable(f"sign server fetch: HTTP {response.status_code}")
    if not response.content:
        raise _unavailable("sign server fetch: empty body (is TikTok detecting the sign server?)")
    cookies = params.parse_cookie_list(response.headers.get("X-Set-TT-Cookie", ""))
    if not cookies:
        raise _unavailable("sign server did not return cookies")
    try:
        result = decode_fetch_result(response.content)
    except FrameError:
        raise _unavailable("sign server fetch: body is not a fetch result") from None
    validate_fetch_result(result)
    room_header = response.headers.get("X-Room-Id", "")
    return SignedFetch(result, cookies, int(room_header) if room_header.isdigit() else None)


def _check_chat_answer(response: httpx.Response) -> None:
    """Euler answers ``{code, message, data}``; anything but success raises."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    code = body.get("code") if isinstance(body, dict) else None
    message = str(body.get("message") or "") if isinstance(body, dict) else ""
    if response.status_code == 200 and code in (None, 0, 200):
        return
    status_code = _dig_int(body, "data", "status_code")
    if status_code == STATUS_SESSION_EXPIRED or "session" in message.lower():
        raise SessionExpired("TikTok refused the chat: session expired or not logged in")
    raise TikTokError(f"chat not sent: HTTP {response.status_code}, code {code}, {message[:200]!r}")


def _dig_int(body: Any, *path: str) -> int | None:
    for key in path:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body if isinstance(body, int) else None
