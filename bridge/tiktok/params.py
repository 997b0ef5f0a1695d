"""Query parameters, headers and cookies of a TikTok web client.

As docs/protocol.md §2.2-§2.4 and §5.1-§5.2 describe them.

Everything here is pure: no I/O, so the exact wire form can be unit-tested.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from bridge.settings.tiktok import Endpoints, Session, TikTokSettings

AID = "1988"
APP_NAME = "tiktok_web"
# The socket URL carries version_code twice: 180800 among the params, 270000 appended
# after them, as TikTok's own player does (docs/protocol.md §5.1).
WS_VERSION_CODE = "180800"
WS_EXTRA_VERSION_CODE = "270000"
HISTORY_COMMENT_COUNT = "6"
# Direct (signer-less) mode opens this path on Endpoints.websocket (docs/protocol.md §4.3).
DIRECT_PUSH_PATH = "/webcast/im/ws_proxy/ws_reuse_supplement/"
# Datacenter hint sent as a cookie when no session says otherwise (docs/protocol.md §2.4).
DEFAULT_TARGET_IDC = "useast1a"
SCREEN_WIDTH = "1920"
SCREEN_HEIGHT = "1080"

# A plausible browser time zone for the configured region; TikTok only sees it as a label.
_REGION_TZ = {
    "US": "America/New_York",
    "CA": "America/Toronto",
    "GB": "Europe/London",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "ES": "Europe/Madrid",
    "IT": "Europe/Rome",
    "NL": "Europe/Amsterdam",
    "PL": "Europe/Warsaw",
    "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City",
    "AU": "Australia/Sydney",
    "JP": "Asia/Tokyo",
}


@dataclass(frozen=True, slots=True)
class BrowserIdentity:
    """The browser one connection attempt pretends to be.

    The same identity (above all the User-Agent) must be used for the sign call or ttwid
    minting and for the socket, or TikTok rejects the socket (docs/protocol.md §2.2).
    """

    user_agent: str
    device_id: str
    history_len: int
    last_rtt: str

    @classmethod
    def new(cls, user_agent: str) -> BrowserIdentity:
        return cls(
            user_agent=user_agent,
            device_id=random_device_id(),
            history_len=random.randint(4, 14),
            last_rtt=f"{random.uniform(100, 200):.3f}",
        )


def random_device_id() -> str:
    """A random 19-digit number, as browsers get assigned (no leading zero)."""
    return str(secrets.randbelow(9 * 10**18) + 10**18)


def split_user_agent(user_agent: str) -> tuple[str, str]:
    """``browser_name`` / ``browser_version``: the UA split at its first "/"."""
    name, sep, version = user_agent.partition("/")
    if not sep:
        return user_agent, ""
    return name, version


def browser_platform(user_agent: str) -> str:
    if "Windows" in user_agent:
        return "Win32"
    if "Macintosh" in user_agent or "Mac OS" in user_agent:
        return "MacIntel"
    return "Linux x86_64"


def os_name(user_agent: str) -> str:
    platform = browser_platform(user_agent)
    return {"Win32": "windows", "MacIntel": "mac"}.get(platform, "linux")


def browser_language(settings: TikTokSettings) -> str:
    return f"{settings.language}-{settings.region}"


def accept_language(settings: TikTokSettings) -> str:
    return f"{browser_language(settings)},{settings.language};q=0.9"


def tz_name(region: str) -> str:
    return _REGION_TZ.get(region.upper(), "Europe/London")


def origin(endpoints: Endpoints) -> str:
    # The webcast backend fails requests whose Origin ends with "/" (docs/protocol.md §2.4).
    return endpoints.www.rstrip("/")


def referer(endpoints: Endpoints) -> str:
    return origin(endpoints) + "/"


def _browser_params(settings: TikTokSettings, identity: BrowserIdentity) -> dict[str, str]:
    name, version = split_user_agent(identity.user_agent)
    return {
        "aid": AID,
        "app_language": settings.language,
        "app_name": APP_NAME,
        "browser_language": browser_language(settings),
        "browser_name": name,
        "browser_online": "true",
        "browser_platform": browser_platform(identity.user_agent),
        "browser_version": version,
        "cookie_enabled": "true",
    }


def http_params(settings: TikTokSettings, identity: BrowserIdentity) -> dict[str, str]:
    """Client params of the unsigned web API calls (api-live, room info, gift list ...)."""
    params = _browser_params(settings, identity)
    params.update(
        {
            "channel": APP_NAME,
            "data_collection_enabled": "true",
            "device_id": identity.device_id,
            "device_platform": "web_pc",
            "focus_state": "true",
            "from_page": "user",
            "history_len": str(identity.history_len),
            "is_fullscreen": "false",
            "is_page_visible": "true",
            "os": os_name(identity.user_agent),
            "priority_region": settings.region,
            "referer": referer(settings.endpoints),
            "region": settings.region,
            "root_referer": referer(settings.endpoints),
            "screen_height": SCREEN_HEIGHT,
            "screen_width": SCREEN_WIDTH,
            "tz_name": tz_name(settings.region),
            "user_is_login": "true" if settings.login else "false",
            "webcast_language": settings.language,
        }
    )
    return params


def http_headers(settings: TikTokSettings, identity: BrowserIdentity) -> dict[str, str]:
    """Browser-like headers of every HTTP call to TikTok (docs/protocol.md §2.4)."""
    return {
        "Connection": "keep-alive",
        "Cache-Control": "max-age=0",
        "User-Agent": identity.user_agent,
        "Accept": "text/html,application/json,application/protobuf",
        "Referer": referer(settings.endpoints),
        "Origin": origin(settings.endpoints),
        "Accept-Language": accept_language(settings),
        "Accept-Encoding": "gzip, deflate",
        "Sec-Fetch-Site": "same-site",
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Dest": "empty",
        "Sec-Fetch-Ua-Mobile": "?0",
    }


def ws_params(
    settings: TikTokSettings,
    identity: BrowserIdentity,
    room_id: int,
    *,
    heartbeat_ms: int,
    compress: bool = True,
) -> list[tuple[str, str]]:
    """The socket's own params, in the order of docs/protocol.md §5.1; device_platform "web"."""
    browser = _browser_params(settings, identity)
    order = (
        "aid",
        "app_language",
        "app_name",
        "browser_platform",
        "browser_language",
        "browser_name",
        "browser_version",
        "browser_online",
        "cookie_enabled",
    )
    params = [(key, browser[key]) for key in order]
    params += [
        ("tz_name", tz_name(settings.region)),
        ("device_platform", "web"),
        ("identity", "audience"),
        ("live_id", "12"),
        ("sup_ws_ds_opt", "1"),
        ("update_version_code", "2.0.0"),
        ("version_code", WS_VERSION_CODE),
        ("client_enter", "1"),
        ("ws_direct", "1"),
        ("did_rule", "3"),
        ("webcast_language", settings.language),
        ("screen_height", SCREEN_HEIGHT),
        ("screen_width", SCREEN_WIDTH),
        ("heartbeat_duration", str(heartbeat_ms)),
        ("resp_content_type", "protobuf"),
        ("history_comment_count", HISTORY_COMMENT_COUNT),
        ("last_rtt", identity.last_rtt),
        ("room_id", str(room_id)),
        # An empty value switches compression off (docs/protocol.md §5.1).
        ("compress", "gzip" if compress else ""),
    ]
    return params


def build_ws_url(
    push_server: str, route_params: Mapping[str, str], base_params: Sequence[tuple[str, str]]
) -> str:
    """push_server + route params (empty dropped) + base params + the extra version_code.

    Base params win over route params with the same key. Every key and value is
    percent-encoded exactly once (browser_version is passed raw, never pre-encoded).
    """
    base_keys = {key for key, _ in base_params}
    pairs = [(k, v) for k, v in route_params.items() if v != "" and k not in base_keys]
    pairs += list(base_params)
    pairs.append(("version_code", WS_EXTRA_VERSION_CODE))
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    separator = "&" if "?" in push_server else "?"
    return f"{push_server}{separator}{query}"


def direct_push_server(endpoints: Endpoints) -> str:
    return endpoints.websocket.rstrip("/") + DIRECT_PUSH_PATH


def session_cookies(session: Session | None) -> dict[str, str]:
    """Cookies of a logged-in session; the datacenter hint is always sent."""
    if session is None:
        return {"tt-target-idc": DEFAULT_TARGET_IDC}
    return {
        "sessionid": session.session_id,
        "sessionid_ss": session.session_id,
        "sid_tt": session.session_id,
        "tt-target-idc": session.tt_target_idc,
    }


def cookie_header(cookies: Mapping[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def parse_cookie_list(text: str) -> dict[str, str]:
    """Parse a cookie-header style list ``a=b; c=d`` (X-Set-TT-Cookie, Handshake-Options).

    Written by hand because SimpleCookie silently drops the whole header on one odd value.
    Set-Cookie attributes (Path, Domain ...) are skipped should a server include them.
    """
    attributes = {"path", "domain", "expires", "max-age", "secure", "httponly", "samesite"}
    cookies: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.strip().partition("=")
        name = name.strip()
        if not sep or not name or name.lower() in attributes:
            continue
        cookies[name] = value.strip().strip('"')
    return cookies


def ws_headers(settings: TikTokSettings, cookies: Mapping[str, str]) -> list[tuple[str, str]]:
    """Handshake headers besides User-Agent (set by the connect call itself)."""
    return [
        ("Cookie", cookie_header(cookies)),
        ("Origin", origin(settings.endpoints)),
        ("Referer", referer(settings.endpoints)),
        ("Accept-Language", accept_language(settings)),
        ("Cache-Control", "no-cache"),
    ]
