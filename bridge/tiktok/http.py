"""Unsigned HTTP calls to TikTok: room resolution, room info, live check, gift list, ttwid.

Every call goes through the shared CallBudget first, uses the configured proxy and the
hosts of ``settings.endpoints`` only, and maps TikTok's answers onto bridge.tiktok.errors.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from bridge.settings.tiktok import TikTokSettings
from bridge.tiktok import params
from bridge.tiktok.budget import CallBudget
from bridge.tiktok.errors import (
    AgeRestricted,
    Blocked,
    RateLimited,
    TikTokError,
    Unreachable,
    UserNotFound,
    network_cause,
)
from bridge.tiktok.params import BrowserIdentity

log = logging.getLogger(__name__)

STATUS_LIVE = 2
API_USER_NOT_FOUND = 19881007
ROOM_INFO_AGE_RESTRICTED = 4003110

_SIGI_SCRIPT = re.compile(r'<script[^>]*\bid="SIGI_STATE"[^>]*>(.*?)</script>', re.DOTALL)
# Older pages: <script id="sigi-persisted-data">window['SIGI_STATE']={...};window['SIGI_RETRY']=...
_SIGI_PERSISTED = re.compile(
    r"""window\[['"]SIGI_STATE['"]\]\s*=\s*(\{.*?\})\s*;\s*(?:window\[|</script>)""", re.DOTALL
)


@dataclass(frozen=True, slots=True)
class RoomStatus:
    unique_id: str
    room_id: int | None  # None: the user has no current room
    live: bool
    status: int | None  # 2 live, 4 ended; None when TikTok did not say
    title: str | None = None
    source: str = "html"  # "html" (live page) or "api" (api-live/user/room)


@dataclass(frozen=True, slots=True)
class RoomInfo:
    room_id: int
    status: int
    title: str
    user_count: int  # current viewers
    like_count: int
    total_user: int  # cumulative viewers
    owner: Mapping[str, Any]
    stream_urls: Mapping[str, str]  # quality name (FULL_HD1, HD1, SD1, SD2, AUDIO) -> FLV URL
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def live(self) -> bool:
        return self.status == STATUS_LIVE


@dataclass(frozen=True, slots=True)
class GiftInfo:
    id: int
    name: str
    diamond_count: int
    type: int  # 1 = streakable
    image_url: str | None = None


class _NoCookies(DefaultCookiePolicy):
    """The shared client keeps no cookies: every call states its cookies explicitly,
    so one streamer's ttwid never leaks into another streamer's requests."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


def rate_limited(response: httpx.Response, what: str, budget: CallBudget) -> RateLimited:
    """The RateLimited error of a 429 answer, ``retry_at`` (unix) from RateLimit-Reset or
    Retry-After; the shared budget is blocked until then, so no other call tries before."""
    error = RateLimited(f"{what}: HTTP 429 rate limited", retry_at=retry_at_from(response.headers))
    if error.retry_at is not None:
        budget.block_until(error.retry_at)
    return error


def retry_at_from(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Unix time of RateLimit-Reset (unix stamp or seconds) or Retry-After; headers are
    case-insensitive (httpx and websockets alike)."""
    now = time.time() if now is None else now
    reset = _finite(headers.get("RateLimit-Reset"))
    if reset is not None and reset >= 0:
        # Euler sends a unix timestamp; the IETF draft form is seconds from now.
        return reset if reset > 1_000_000_000 else now + reset
    retry_after = headers.get("Retry-After")
    if not retry_after:
        return None
    seconds = _finite(retry_after)
    if seconds is not None:
        return now + seconds
    try:
        return email.utils.parsedate_to_datetime(retry_after).timestamp()
    except (TypeError, ValueError, OverflowError):
        return None  # neither seconds nor an HTTP date: the reset is unknown


def _finite(text: str | None) -> float | None:
    """``text`` as a finite number; None for anything else ("inf" must not block forever)."""
    try:
        value = float(text) if text else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def extract_sigi_state(html: str) -> dict[str, Any]:
    """The SIGI_STATE JSON of a live page; Blocked when the page is a challenge."""
    if "tiktok-verify-page" in html:
        raise Blocked("TikTok answered with a captcha / verify page")
    match = _SIGI_SCRIPT.search(html) or _SIGI_PERSISTED.search(html)
    if match is None:
        raise Blocked("no SIGI_STATE in the live page (challenge page?)")
    try:
        state = json.loads(match.group(1))
    except ValueError as exc:
        raise Blocked("SIGI_STATE is not JSON (captcha?)") from exc
    if not isinstance(state, dict):
        raise Blocked("SIGI_STATE is not a JSON object")
    return state


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _room_status(
    unique_id: str, room_id: Any, statuses: tuple[Any, ...], title: Any, source: str
) -> RoomStatus:
    rid = _as_int(room_id)
    codes = [c for c in (_as_int(s) for s in statuses) if c is not None]
    status = STATUS_LIVE if STATUS_LIVE in codes else (codes[0] if codes else None)
    if not rid:  # "" or "0": no current room, hence not live
        return RoomStatus(unique_id, None, False, status, None, source)
    return RoomStatus(
        unique_id,
        rid,
        status == STATUS_LIVE,
        status,
        title if isinstance(title, str) else None,
        source,
    )


def room_status_from_sigi(state: Mapping[str, Any], unique_id: str) -> RoomStatus:
    live_room = state.get("LiveRoom")
    if not isinstance(live_room, dict):
        # User unknown or never live; the API decides which (docs/protocol.md §3.2).
        raise UserNotFound(f"live page of {unique_id} has no LiveRoom")
    info = live_room.get("liveRoomUserInfo")
    user = _dig(info, "user")
    if not isinstance(user, dict) or "roomId" not in user:
        raise TikTokError("live page: no liveRoomUserInfo.user.roomId")
    statuses = (_dig(info, "liveRoom", "status"), user.get("status"))
    title = _dig(info, "liveRoom", "title")
    return _room_status(unique_id, user.get("roomId"), statuses, title, "html")


def room_status_from_api(body: Any, unique_id: str) -> RoomStatus:
    if not isinstance(body, dict):
        raise Blocked("api-live/user/room: unexpected body")
    code = _as_int(body.get("statusCode"))
    if body.get("message") == "user_not_found" or code == API_USER_NOT_FOUND:
        raise UserNotFound(f"api-live/user/room answered user_not_found for @{unique_id}")
    if code not in (0, None):
        raise TikTokError(f"api-live/user/room: statusCode {code}")
    data = body.get("data")
    user = _dig(data, "user")
    if not isinstance(user, dict):
        raise TikTokError("api-live/user/room: no data.user")
    statuses = (_dig(data, "liveRoom", "status"), user.get("status"))
    title = _dig(data, "liveRoom", "title")
    return _room_status(unique_id, user.get("roomId"), statuses, title, "api")


def room_info_from_json(body: Any, room_id: int) -> RoomInfo:
    if not isinstance(body, dict):
        raise Blocked("room/info: unexpected body")
    code = _as_int(body.get("status_code"))
    data = body.get("data")
    if code == ROOM_INFO_AGE_RESTRICTED:
        raise AgeRestricted("room is age-restricted: a logged-in session is needed")
    if code not in (0, None):
        raise TikTokError(f"room/info: status_code {code}")
    # An 18+ room answers a bare {"prompts": ...} without a session (docs/protocol.md §3.6).
    if not isinstance(data, dict) or "prompts" in data or len(data) <= 1:
        raise AgeRestricted("room info withheld (age-restricted room?): a session is needed")
    stats: dict[str, Any] = data["stats"] if isinstance(data.get("stats"), dict) else {}
    flv = _dig(data, "stream_url", "flv_pull_url")
    owner = data.get("owner")
    title = data.get("title")
    return RoomInfo(
        room_id=room_id,
        status=_as_int(data.get("status")) or 0,
        title=title if isinstance(title, str) else "",
        user_count=_as_int(data.get("user_count")) or 0,
        like_count=_as_int(stats.get("like_count")) or 0,
        total_user=_as_int(stats.get("total_user")) or 0,
        owner=owner if isinstance(owner, dict) else {},
        stream_urls={k: v for k, v in flv.items() if isinstance(v, str)}
        if isinstance(flv, dict)
        else {},
        raw=data,
    )


def gifts_from_json(body: Any) -> dict[int, GiftInfo]:
    """Gift list answer: ``data.gifts``, or ``data`` being the list (docs/protocol.md §3.7)."""
    data = body.get("data") if isinstance(body, dict) else None
    gifts = data.get("gifts") if isinstance(data, dict) else data
    catalogue: dict[int, GiftInfo] = {}
    for gift in gifts if isinstance(gifts, list) else []:
        gift_id = _as_int(_dig(gift, "id"))
        if gift_id is None:
            continue
        urls = _dig(gift, "image", "url_list")
        catalogue[gift_id] = GiftInfo(
            id=gift_id,
            name=str(gift.get("name") or ""),
            diamond_count=_as_int(gift.get("diamond_count")) or 0,
            type=_as_int(gift.get("type")) or 0,
            image_url=urls[0] if isinstance(urls, list) and urls else None,
        )
    return catalogue


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        # A challenge page instead of JSON.
        raise Blocked(f"{what}: answer is not JSON (blocked / captcha?)") from exc


class TikTokHttp:
    """The HTTP side of TikTok. One per process; cookies are never kept between calls."""

    TTWID_ROUNDS = 8
    TTWID_DELAY_S = 0.75

    def __init__(self, settings: TikTokSettings, budget: CallBudget) -> None:
        self._settings = settings
        self._budget = budget
        self.client = httpx.AsyncClient(
            proxy=settings.proxy,
            timeout=settings.http_timeout_s,
            follow_redirects=True,
            # Only the configured proxy counts, never HTTP(S)_PROXY from the environment.
            trust_env=False,
            cookies=httpx.Cookies(CookieJar(policy=_NoCookies())),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def _cookies(self, extra: Mapping[str, str] | None = None) -> str:
        cookies = params.session_cookies(self._settings.login)
        cookies.update(extra or {})
        return params.cookie_header(cookies)

    async def get(
        self,
        url: str,
        identity: BrowserIdentity,
        *,
        what: str,
        query: Mapping[str, str] | None = None,
        client_params: bool = True,
        kind: str = "tiktok",
    ) -> httpx.Response:
        """GET with budget, browser headers, cookies; 429 -> RateLimited (and budget block)."""
        await self._budget.acquire(kind)
        headers = params.http_headers(self._settings, identity)
        headers["Cookie"] = self._cookies()
        query_params = params.http_params(self._settings, identity) if client_params else {}
        query_params.update(query or {})
        try:
            response = await self.client.get(url, params=query_params, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as exc:
            raise Unreachable(what, network_cause(exc)) from None
        except httpx.TimeoutException:
            timeout = self._settings.http_timeout_s
            raise TikTokError(f"{what}: no answer within {timeout:g} s") from None
        except httpx.HTTPError as exc:
            # Only the class name: transport messages can echo proxy URLs (credentials).
            raise TikTokError(f"{what}: {type(exc).__name__}") from None
        if response.status_code == 429:
            raise rate_limited(response, what, self._budget)
        return response

    # -- room resolution ---------------------------------------------------------------

    async def resolve_room(self, unique_id: str, identity: BrowserIdentity) -> RoomStatus:
        """Live page first, api-live as the fall-back (docs/protocol.md §3.4)."""
        try:
            return await self.room_from_html(unique_id, identity)
        except RateLimited:
            raise  # the budget is blocked anyway; a second call would only wait
        except TikTokError as html_error:
            log.debug("live page of %s unusable (%s); trying api-live", unique_id, html_error)
        return await self.room_from_api(unique_id, identity)

    async def room_from_html(self, unique_id: str, identity: BrowserIdentity) -> RoomStatus:
        www = self._settings.endpoints.www.rstrip("/")
        response = await self.get(
            f"{www}/@{unique_id}/live", identity, what="live page", client_params=False
        )
        _raise_for_block(response, "live page")
        if response.status_code != 200:
            raise TikTokError(f"live page: HTTP {response.status_code}")
        return room_status_from_sigi(extract_sigi_state(response.text), unique_id)

    async def room_from_api(self, unique_id: str, identity: BrowserIdentity) -> RoomStatus:
        www = self._settings.endpoints.www.rstrip("/")
        response = await self.get(
            f"{www}/api-live/user/room/",
            identity,
            what="api-live/user/room",
            query={"uniqueId": unique_id, "sourceType": "54"},
        )
        _raise_for_block(response, "api-live/user/room")
        if response.status_code >= 500:
            raise TikTokError(f"api-live/user/room: HTTP {response.status_code}")
        return room_status_from_api(_json(response, "api-live/user/room"), unique_id)

    # -- room ----------------------------------------------------------------------------

    async def room_info(self, room_id: int, identity: BrowserIdentity) -> RoomInfo:
        body = await self._webcast_json("room/info", room_id, identity)
        return room_info_from_json(body, room_id)

    async def check_alive(self, room_id: int, identity: BrowserIdentity) -> bool | None:
        """``data[0].alive`` of room/check_alive, or None when the answer is unusable."""
        webcast = self._settings.endpoints.webcast.rstrip("/")
        response = await self.get(
            f"{webcast}/webcast/room/check_alive/",
            identity,
            what="room/check_alive",
            query={"room_ids": str(room_id)},
        )
        if response.status_code != 200:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        entries = body.get("data") if isinstance(body, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if (
                isinstance(entry, dict)
                and isinstance(entry.get("alive"), bool)
                and _as_int(entry.get("room_id")) in (None, room_id)
            ):
                return bool(entry["alive"])
        return None

    async def gift_list(self, room_id: int, identity: BrowserIdentity) -> dict[int, GiftInfo]:
        return gifts_from_json(await self._webcast_json("gift/list", room_id, identity))

    async def _webcast_json(self, what: str, room_id: int, identity: BrowserIdentity) -> Any:
        """The JSON body of ``<webcast>/webcast/<what>/?room_id=…``; Blocked on a challenge,
        TikTokError on any status but 200."""
        webcast = self._settings.endpoints.webcast.rstrip("/")
        response = await self.get(
            f"{webcast}/webcast/{what}/", identity, what=what, query={"room_id": str(room_id)}
        )
        _raise_for_block(response, what)
        if response.status_code != 200:
            raise TikTokError(f"{what}: HTTP {response.status_code}")
        return _json(response, what)

    # -- ttwid (direct mode) -------------------------------------------------------------

    async def mint_ttwid(self, unique_id: str, identity: BrowserIdentity) -> str:
        """An anonymous ``ttwid`` cookie from profile page visits (docs/protocol.md §4.3)."""
        www = self._settings.endpoints.www.rstrip("/")
        urls = (f"{www}/@{unique_id}", f"{www}/@tiktok")
        for round_no in range(self.TTWID_ROUNDS):
            if round_no:
                # TikTok mints the cookie only on some answers; pause between rounds.
                await asyncio.sleep(self.TTWID_DELAY_S)
            for url in urls:
                response = await self.get(url, identity, what="ttwid", client_params=False)
                ttwid = _cookie_from(response, "ttwid")
                if ttwid:
                    return ttwid
                if response.headers.get("X-TT-System-Error") == "3":
                    raise Blocked("ttwid: TikTok answered with a challenge (X-TT-System-Error 3)")
        raise TikTokError(f"ttwid: no cookie after {self.TTWID_ROUNDS} rounds")


def _cookie_from(response: httpx.Response, name: str) -> str | None:
    """A cookie set by the response or by any redirect on the way to it."""
    for step in (*response.history, response):
        value = step.cookies.get(name)
        if value:
            return value
    return None


def _raise_for_block(response: httpx.Response, what: str) -> None:
    if response.headers.get("X-TT-System-Error") == "3":
        raise Blocked(f"{what}: TikTok challenge (X-TT-System-Error 3)")
    if response.status_code == 403:
        raise Blocked(f"{what}: HTTP 403 (blocked)")
