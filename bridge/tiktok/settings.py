"""Settings of the TikTok source, owned by this layer; bridge.config builds them from YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ConnectionMode = Literal["auto", "sign_server", "direct"]

# One browser identity for every call of a connection attempt (HTTP, sign call, ttwid, socket):
# TikTok rejects sockets whose User-Agent differs from the one used to obtain the cookies.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Every TikTok base URL the client uses; all overridable (proxy, region host, simulator)."""

    www: str = "https://www.tiktok.com"
    webcast: str = "https://webcast.tiktok.com"
    # Direct mode opens <websocket>/webcast/im/ws_proxy/ws_reuse_supplement/ ; with a sign
    # server the fetch result's push_server is used instead.
    websocket: str = "wss://webcast-ws.tiktok.com"
    sign_server: str = "https://api.eulerstream.com"


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in TikTok session (secret). Needed for age-restricted rooms and chat sending."""

    session_id: str
    tt_target_idc: str = "useast1a"

    def __repr__(self) -> str:  # never leak the session id through repr/logging
        return f"Session(session_id='***', tt_target_idc={self.tt_target_idc!r})"


@dataclass(frozen=True, slots=True)
class TikTokSettings:
    connection: ConnectionMode = "auto"
    endpoints: Endpoints = field(default_factory=Endpoints)
    # sign server: used when connection == "sign_server", or "auto" and sign_server_enabled
    sign_server_enabled: bool = False
    sign_api_key: str | None = field(default=None, repr=False)
    session: Session | None = None
    # Send the session to the sign server too: an explicit opt-in, it leaves for a third party.
    session_to_sign_server: bool = False
    # http://, https:// or socks5:// URL; may hold credentials, hence repr=False.
    proxy: str | None = field(default=None, repr=False)
    language: str = "en"
    region: str = "US"
    user_agent: str = DEFAULT_USER_AGENT
    http_timeout_s: float = 15.0
    connect_timeout_s: float = 20.0
    heartbeat_interval_s: float = 10.0  # used unless Handshake-Options gives ping-interval
    stale_after_s: float = 60.0  # no frame for this long => connection is dead
    gift_catalogue_ttl_s: float = 6 * 3600.0

    @property
    def uses_sign_server(self) -> bool:
        if self.connection == "auto":
            return self.sign_server_enabled or self.sign_api_key is not None
        return self.connection == "sign_server"
