"""TikTokClient: the one facade the rest of the bridge uses to talk to TikTok.

One instance per process, shared by all streamers (one HTTP connection pool, one
CallBudget). Connection mode: with a sign server the socket comes from its signed fetch
(push_server, route_params, cookies); without one ("direct") from a ttwid cookie and the
ws_reuse_supplement path on Endpoints.websocket (docs/protocol.md §4.2, §4.3).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from bridge.settings.names import normalise_unique_id
from bridge.settings.tiktok import TikTokSettings
from bridge.tiktok import params
from bridge.tiktok.budget import CallBudget
from bridge.tiktok.errors import RateLimited, TikTokError, UserNotFound
from bridge.tiktok.frames import as_text
from bridge.tiktok.http import GiftInfo, RoomInfo, RoomStatus, TikTokHttp
from bridge.tiktok.params import BrowserIdentity
from bridge.tiktok.push import PushSession, PushStats, PushTarget
from bridge.tiktok.sign import SignClient

__all__ = [
    "CallBudget",
    "GiftInfo",
    "PushSession",
    "PushStats",
    "RoomInfo",
    "RoomStatus",
    "TikTokClient",
]

log = logging.getLogger(__name__)

# A failed gift-list call is not retried for this long (the list is optional: gift
# messages embed the gift struct), so a signed-only endpoint costs one call per period.
GIFT_FAILURE_TTL_S = 600.0


class TikTokClient:
    def __init__(self, settings: TikTokSettings, *, budget: CallBudget | None = None) -> None:
        self.settings = settings
        self.budget = budget if budget is not None else CallBudget()
        self.http = TikTokHttp(settings, self.budget)
        self.sign = SignClient(settings, self.http.client, self.budget)
        self._gifts: dict[int, tuple[float, Mapping[int, GiftInfo]]] = {}

    def _identity(self) -> BrowserIdentity:
        return BrowserIdentity.new(self.settings.user_agent)

    # -- lookups ------------------------------------------------------------------------

    async def resolve(self, user: str) -> RoomStatus:
        """Room id and live status of ``user`` ("@name", "name", profile or /live URL)."""
        return await self.http.resolve_room(_unique_id(user), self._identity())

    async def check_live(self, room_id: int) -> bool:
        """room/check_alive, falling back to room info's status when it gives no answer."""
        identity = self._identity()
        alive: bool | None = None
        try:
            alive = await self.http.check_alive(room_id, identity)
        except RateLimited:
            raise
        except TikTokError as exc:
            log.debug("check_alive of room %s failed (%s); using room info", room_id, exc)
        if alive is not None:
            return alive
        return (await self.http.room_info(room_id, identity)).live

    async def room_info(self, room_id: int) -> RoomInfo:
        return await self.http.room_info(room_id, self._identity())

    async def gift_catalogue(self, room_id: int) -> Mapping[int, GiftInfo]:
        """Gift id -> info, cached per room; empty when TikTok will not give the list.

        TikTok answers the unsigned gift/list less and less (docs/protocol.md §3.7), so a
        failure is not an error: events carry the gift struct anyway.
        """
        now = time.monotonic()
        cached = self._gifts.get(room_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            catalogue: Mapping[int, GiftInfo] = await self.http.gift_list(room_id, self._identity())
            ttl = self.settings.gift_catalogue_ttl_s
        except TikTokError as exc:
            log.info("gift catalogue of room %s unavailable: %s", room_id, exc)
            catalogue, ttl = {}, min(GIFT_FAILURE_TTL_S, self.settings.gift_catalogue_ttl_s)
        self._gifts[room_id] = (now + ttl, catalogue)
        return catalogue

    # -- push ---------------------------------------------------------------------------

    def open_push(self, room_id: int, *, user: str) -> PushSession:
        """A push session for ``room_id``; the network work happens on ``async with``.

        One BrowserIdentity (User-Agent, device id) serves the whole attempt: sign call or
        ttwid minting, and the socket.
        """
        identity = self._identity()
        unique_id = _unique_id(user)

        async def prepare() -> PushTarget:
            if self.settings.uses_sign_server:
                return await self._signed_target(room_id, identity)
            return await self._direct_target(room_id, unique_id, identity)

        return PushSession(room_id, self.settings, prepare, budget=self.budget)

    def _ws_params(self, room_id: int, identity: BrowserIdentity) -> list[tuple[str, str]]:
        heartbeat_ms = round(self.settings.heartbeat_interval_s * 1000)
        return params.ws_params(self.settings, identity, room_id, heartbeat_ms=heartbeat_ms)

    def _socket_cookies(self, tiktok_cookies: Mapping[str, str]) -> dict[str, str]:
        cookies = {"tt-target-idc": params.DEFAULT_TARGET_IDC}
        cookies.update(tiktok_cookies)
        if self.settings.login is not None:
            cookies.update(params.session_cookies(self.settings.login))
        return cookies

    async def _signed_target(self, room_id: int, identity: BrowserIdentity) -> PushTarget:
        signed = await self.sign.fetch(room_id, identity)
        result = signed.result
        url = params.build_ws_url(
            as_text(result.push_server),
            dict(result.route_params),
            self._ws_params(room_id, identity),
        )
        headers = params.ws_headers(self.settings, self._socket_cookies(signed.cookies))
        return PushTarget(url, identity.user_agent, headers, initial=result)

    async def _direct_target(
        self, room_id: int, unique_id: str, identity: BrowserIdentity
    ) -> PushTarget:
        ttwid = await self.http.mint_ttwid(unique_id, identity)
        url = params.build_ws_url(
            params.direct_push_server(self.settings.endpoints),
            {},
            self._ws_params(room_id, identity),
        )
        headers = params.ws_headers(self.settings, self._socket_cookies({"ttwid": ttwid}))
        return PushTarget(url, identity.user_agent, headers)

    # -- chat ---------------------------------------------------------------------------

    async def send_chat(self, room_id: int, text: str) -> None:
        """Send a chat message through the sign server (needs a session and an API key)."""
        await self.sign.send_chat(room_id, text)

    async def aclose(self) -> None:
        await self.http.aclose()


def _unique_id(user: str) -> str:
    try:
        return normalise_unique_id(user)
    except ValueError as exc:
        raise UserNotFound(str(exc)) from None
