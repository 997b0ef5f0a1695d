"""Settings of the TikTok source and of the per-streamer supervision (`tiktok:`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bridge.settings.declare import section, setting
from bridge.settings.problems import Problem
from bridge.settings.schema import join

ConnectionMode = Literal["auto", "sign_server", "direct"]
_HTTP = ("http", "https")

# One browser identity for every call of a connection attempt (HTTP, sign call, ttwid, socket):
# TikTok rejects sockets whose User-Agent differs from the one used to obtain the cookies.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


@section("Third-party sign server (e.g. Euler Stream).")
class SignServerSettings:
    url: str | None = setting(
        default=None,
        doc="Sign server base URL; setting it turns the sign server on in `auto` mode. "
        "Takes precedence over `endpoints.sign_server`.",
        url=_HTTP,
    )
    api_key: str | None = setting(
        default=None,
        doc="Sign server API key (higher rate limits; needed to send chat).",
        secret=True,
        max_length=1024,
    )
    # Both peers refuse to send the session unless explicitly allowed.
    send_session: bool = setting(
        default=False,
        doc="Also send the TikTok session to the sign server (it then holds your account's "
        "login). Needed for age-restricted rooms and chat sending.",
    )


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in TikTok session (secret). Needed for age-restricted rooms and chat sending."""

    session_id: str = dataclasses.field(repr=False)  # never leak it through repr/logging
    tt_target_idc: str = "useast1a"


@section(
    "A logged-in TikTok session (the `sessionid` and `tt-target-idc` cookies). "
    "Treat it like a password."
)
class SessionSettings:
    session_id: str | None = setting(
        default=None, doc="The `sessionid` cookie. Use `!secret`.", secret=True, max_length=1024
    )
    tt_target_idc: str = setting(
        default="useast1a",
        doc="The `tt-target-idc` cookie: the account's data centre.",
        pattern=r"[a-z0-9-]{1,32}",
        pattern_doc="lower-case letters, digits and - (e.g. useast1a, eu-ttp2)",
    )


@section("TikTok base URLs (region hosts, a local simulator).")
class Endpoints:
    """Every TikTok base URL the client uses; all overridable (proxy, region host, simulator)."""

    www: str = setting(default="https://www.tiktok.com", doc="Web site.", url=_HTTP)
    webcast: str = setting(default="https://webcast.tiktok.com", doc="Webcast API.", url=_HTTP)
    # Direct mode opens <websocket>/webcast/im/ws_proxy/ws_reuse_supplement/ ; with a sign
    # server the fetch result's push_server is used instead.
    websocket: str = setting(
        default="wss://webcast-ws.tiktok.com",
        doc="Push WebSocket (direct mode).",
        url=("ws", "wss"),
    )
    sign_server: str = setting(
        default="https://api.eulerstream.com",
        doc="Sign server, unless `sign_server.url` is set.",
        url=_HTTP,
    )


def _supervision_rules(
    sup: Mapping[str, Any], path: str, doc: Mapping[str, Any]
) -> Iterator[Problem]:
    initial, maximum = sup["backoff_initial_s"], sup["backoff_max_s"]
    if isinstance(initial, float) and isinstance(maximum, float) and maximum < initial:
        yield Problem(
            join(path, "backoff_max_s"),
            f"must be at least tiktok.supervision.backoff_initial_s ({initial:g})",
        )


# How each streamer's supervisor polls, backs off and gives up for a while. Floors keep a
# mistyped value from hammering TikTok; tests build SupervisorSettings directly.
@section(
    "Timings of the per-streamer supervision: polling, back-off, watchdog, caps. "
    "The defaults are polite to TikTok; lowering them risks rate limits and IP blocks.",
    rules=_supervision_rules,
)
class SupervisionSettings:
    live_poll_jitter: float = setting(
        default=0.2,
        doc="Random spread of every poll interval, as a fraction (0.2 = ±20 %), so many "
        "streamers do not poll in lock-step.",
        minimum=0,
        maximum=0.5,
    )
    # Streamers often restart within a minute of ending: poll faster for a few rounds.
    ended_poll_interval_s: float = setting(
        default=20.0,
        doc="Poll interval right after a stream ended (streamers often restart within a "
        "minute); used for `ended_polls` polls, then `live_poll_interval_s` again.",
        minimum=10,
        maximum=3600,
    )
    ended_polls: int = setting(
        default=3,
        doc="How many polls after a stream end use `ended_poll_interval_s` (0: none).",
        minimum=0,
        maximum=20,
    )
    cold_start_stagger_s: float = setting(
        default=2.0,
        doc="Delay between the first checks of consecutive streamers at start-up, so a "
        "restart does not fire every streamer's calls at once.",
        minimum=0,
        maximum=300,
    )
    backoff_initial_s: float = setting(
        default=5.0,
        doc="First retry delay after a transient failure (connection lost, sign server "
        "down); doubles per failure, with full jitter.",
        minimum=1,
        maximum=300,
    )
    backoff_max_s: float = setting(
        default=300.0,
        doc="Longest retry delay after transient failures; also the wait after "
        "`not_found`, `age_restricted`, `auth_expired` and `reconnect_limited`.",
        minimum=10,
        maximum=86_400,
    )
    # Blocked (DEVICE_BLOCKED, handshake refused, captcha): retrying soon deepens IP scoring.
    blocked_backoff_s: float = setting(
        default=900.0,
        doc="Wait after TikTok blocked us (DEVICE_BLOCKED, refused handshake, captcha), "
        "with jitter. Retrying a block soon makes it worse.",
        minimum=60,
        maximum=86_400,
    )
    healthy_after_s: float = setting(
        default=600.0,
        doc="A connection must stay up this long before the back-off starts again at "
        "`backoff_initial_s` (stops flapping connections from retrying fast).",
        minimum=10,
        maximum=86_400,
    )
    silent_check_s: float = setting(
        default=300.0,
        doc="Connected but no event for this long: re-check that the stream is live. "
        "Not live: the stream ended. Live but no message frame at all: reconnect.",
        minimum=30,
        maximum=86_400,
    )
    max_reconnects_per_hour: int = setting(
        default=12,
        doc="Connection attempts per streamer in a rolling hour; beyond it the streamer "
        "waits `backoff_max_s` (status `reconnect_limited`, a `watch_error` event).",
        minimum=1,
        maximum=120,
    )
    not_found_confirmations: int = setting(
        default=3,
        doc='For an account that was found before, how many "user not found" answers in a '
        "row it takes to publish `not_found` (TikTok sometimes says so while live).",
        minimum=1,
        maximum=20,
    )


@dataclass(frozen=True, slots=True)
class SupervisorSettings(SupervisionSettings):
    """What one streamer's supervisor reads: `tiktok.supervision` plus the two `tiktok` keys
    about polling (built by TikTokSettings.supervisor, not a section of its own)."""

    live_poll_interval_s: float = 60.0  # with jitter
    # Global budget shared by all streamers for TikTok + sign-server calls.
    calls_per_minute: int = 30


def _tiktok_rules(
    tiktok: Mapping[str, Any], path: str, doc: Mapping[str, Any]
) -> Iterator[Problem]:
    session, sign = tiktok["session"], tiktok["sign_server"]
    no_session = isinstance(session, Mapping) and session["session_id"] is None
    if no_session and isinstance(sign, Mapping) and sign["send_session"] is True:
        yield Problem(
            join(path, "sign_server.send_session"),
            "is on but there is no session to send; set tiktok.session.session_id",
        )
    stale, heartbeat = tiktok["stale_after_s"], tiktok["heartbeat_interval_s"]
    if isinstance(stale, float) and isinstance(heartbeat, float) and stale < 2 * heartbeat:
        yield Problem(
            join(path, "stale_after_s"),
            f"must be at least twice tiktok.heartbeat_interval_s ({heartbeat:g}), "
            "or quiet but healthy connections would be dropped",
        )


_SUPERVISION_KEYS = tuple(f.name for f in dataclasses.fields(SupervisionSettings))


@section(
    "How the bridge talks to TikTok (shared by all streamers).",
    hints={
        "sign_api_key": "use tiktok.sign_server.api_key",
        "session_id": "use tiktok.session.session_id",
        "session_file": "use tiktok.session.session_id (with !secret)",
        **{name: f"use tiktok.supervision.{name}" for name in _SUPERVISION_KEYS},
    },
    rules=_tiktok_rules,
)
class TikTokSettings:
    connection: ConnectionMode = setting(
        default="auto",
        doc="`direct`: connect to TikTok's WebSocket without a sign server. `sign_server`: "
        "always use the sign server. `auto`: the sign server when `sign_server.url` or "
        "`sign_server.api_key` is set, else direct.",
    )
    sign_server: SignServerSettings = setting(default_factory=SignServerSettings)
    session: SessionSettings = setting(default_factory=SessionSettings)
    proxy: str | None = setting(
        default=None,
        doc="Proxy for every TikTok and sign-server call (HTTP and WebSocket). "
        "May carry credentials (`socks5://user:password@host:1080`); they are redacted.",
        url=("http", "https", "socks5", "socks5h"),
        allow_userinfo=True,
        secret=True,
    )
    live_poll_interval_s: float = setting(
        default=60.0,
        doc="How often an offline streamer is checked for going live (with jitter). "
        "Faster polling gets the IP rate-limited or blocked.",
        minimum=15,
        maximum=86_400,
    )
    calls_per_minute: int = setting(
        default=30,
        doc="Budget of TikTok and sign-server calls per minute, shared by all streamers.",
        minimum=1,
        maximum=600,
    )
    supervision: SupervisionSettings = setting(default_factory=SupervisionSettings)
    heartbeat_interval_s: float = setting(
        default=10.0,
        doc="WebSocket heartbeat interval, unless TikTok asks for another one.",
        minimum=1,
        maximum=60,
    )
    stale_after_s: float = setting(
        default=60.0,
        doc="A connection without any frame for this long is treated as dead and re-opened.",
        minimum=10,
        maximum=3600,
    )
    http_timeout_s: float = setting(
        default=15.0, doc="Timeout of one HTTP call.", minimum=1, maximum=300
    )
    connect_timeout_s: float = setting(
        default=20.0, doc="Timeout of opening the WebSocket.", minimum=1, maximum=300
    )
    language: str = setting(
        default="en",
        doc="Language sent to TikTok (affects gift names and system messages).",
        pattern=r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?",
        pattern_doc="a language code such as en, de or pt-BR",
    )
    region: str = setting(
        default="US",
        doc="Region sent to TikTok.",
        pattern=r"[A-Z]{2}",
        pattern_doc="a two-letter country code such as US or DE",
        normalize=str.upper,
    )
    user_agent: str = setting(
        default=DEFAULT_USER_AGENT,
        doc="Browser User-Agent used for every call. Change only when TikTok blocks the "
        "default; it must look like a real browser.",
        max_length=512,
    )
    endpoints: Endpoints = setting(default_factory=Endpoints)
    gift_catalogue_ttl_s: float = 6 * 3600.0  # not a key: how long the gift list is cached

    @property
    def uses_sign_server(self) -> bool:
        if self.connection == "auto":
            return self.sign_server.url is not None or self.sign_server.api_key is not None
        return self.connection == "sign_server"

    @property
    def sign_api_key(self) -> str | None:
        return self.sign_server.api_key

    @property
    def session_to_sign_server(self) -> bool:
        return self.sign_server.send_session

    @property
    def sign_server_url(self) -> str:
        return self.sign_server.url or self.endpoints.sign_server

    @property
    def login(self) -> Session | None:
        """The logged-in session, when `session.session_id` is set."""
        s = self.session
        return None if s.session_id is None else Session(s.session_id, s.tt_target_idc)

    @property
    def supervisor(self) -> SupervisorSettings:
        values = {name: getattr(self.supervision, name) for name in _SUPERVISION_KEYS}
        return SupervisorSettings(
            live_poll_interval_s=self.live_poll_interval_s,
            calls_per_minute=self.calls_per_minute,
            **values,
        )

    def with_supervisor(self, sup: SupervisorSettings) -> TikTokSettings:
        """These settings with another supervisor's timings, unchecked (the demo, benches and
        tests run faster than a real TikTok would allow)."""
        values = {name: getattr(sup, name) for name in _SUPERVISION_KEYS}
        return dataclasses.replace(
            self,
            live_poll_interval_s=sup.live_poll_interval_s,
            calls_per_minute=sup.calls_per_minute,
            supervision=SupervisionSettings(**values),
        )
