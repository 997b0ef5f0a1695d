"""The core sections of the configuration: keys, defaults, limits and cross-key rules.

Defaults are read from the settings dataclasses so the schema, the docs and the objects the
layers receive can never disagree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from bridge.config.problems import Problem
from bridge.config.registry import SectionSpec, register_section
from bridge.config.schema import (
    INVALID,
    Bool,
    FilePath,
    ListOf,
    MapOf,
    Number,
    Section,
    Text,
    TextList,
    Url,
    join,
)
from bridge.core.settings import (
    ALL_EVENTS,
    DEFAULT_EVENTS,
    DEFAULT_GIFT_TIERS,
    ChatSendSettings,
    StreamerSettings,
    SupervisorSettings,
)
from bridge.mqtt.settings import HomeAssistantSettings, MqttSettings
from bridge.service.settings import LoggingSettings, ServiceSettings
from bridge.tiktok.settings import Endpoints, Session, TikTokSettings


def default(cls: type, name: str) -> Any:
    """The dataclass default of a settings field (the single source of default values)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    raise KeyError(f"{cls.__name__}.{name} has no default")


# ----------------------------------------------------------------------------- topics


def topic_prefix_problem(topic: str) -> str | None:
    """Why `topic` cannot be used as a topic prefix, or None (MQTT rules + our own)."""
    if any(c in topic for c in "+#\0"):
        return "must not contain MQTT wildcards (+, #) or NUL"
    if topic.startswith("$"):
        return "must not start with $ (reserved for broker topics such as $SYS)"
    if topic.startswith("/") or topic.endswith("/") or "//" in topic:
        return "must not have an empty level (no leading, trailing or double /)"
    if len(topic.encode()) > 1000:
        return "is too long"
    return None


def _topic(doc: str, default_value: str) -> Text:
    return Text(
        doc=doc,
        default=default_value,
        rule=topic_prefix_problem,
        pattern_doc="MQTT topic without +, #, NUL or empty levels",
    )


# ----------------------------------------------------------------------------- mqtt

MQTT = Section(
    doc="Connection to the MQTT broker and how events are published.",
    hints={
        "force_disable_retain": "use 'retain: false'",
        "username": "did you mean 'user'?",
        "port": "put the port in 'server', e.g. mqtts://broker.lan:8883",
        "host": "use 'server', e.g. mqtt://broker.lan:1883",
    },
    children={
        "server": Url(
            doc="Broker URL. mqtts:// uses TLS (port 8883 unless given).",
            default=default(MqttSettings, "server"),
            schemes=("mqtt", "mqtts"),
        ),
        "base_topic": _topic(
            "First topic level of everything the bridge publishes (`<base_topic>/bridge/...`, "
            "`<base_topic>/<user>/...`). Must differ from `homeassistant.discovery_topic`.",
            default(MqttSettings, "base_topic"),
        ),
        "user": Text(doc="Broker user name.", max_length=256),
        "password": Text(doc="Broker password. Use `!secret`.", secret=True, max_length=1024),
        "client_id": Text(
            doc="MQTT client id; must be unique on the broker.",
            default=default(MqttSettings, "client_id"),
            pattern=r"[A-Za-z0-9_.:-]{1,128}",
            pattern_doc="letters, digits and _ . : - (1 to 128)",
        ),
        "ca": FilePath(
            doc="CA certificate (PEM) to verify the broker; system CAs when empty.", must_exist=True
        ),
        "cert": FilePath(doc="Client certificate (PEM); needs `key`.", must_exist=True),
        "key": FilePath(doc="Private key of the client certificate (PEM).", must_exist=True),
        "reject_unauthorized": Bool(
            doc="Verify the broker's TLS certificate. Only disable for testing.",
            default=default(MqttSettings, "reject_unauthorized"),
        ),
        "keepalive": Number(
            doc="MQTT keep-alive in seconds.",
            default=default(MqttSettings, "keepalive"),
            integer=True,
            minimum=5,
            maximum=3600,
        ),
        "event_qos": Number(
            doc="QoS of event messages (chat, gift, ...). State topics always use QoS 1.",
            default=default(MqttSettings, "event_qos"),
            integer=True,
            minimum=0,
            maximum=2,
        ),
        "retain": Bool(
            doc="Publish state topics retained. Disable for brokers without retain support.",
            default=default(MqttSettings, "retain"),
        ),
        "max_event_age_s": Number(
            doc="Events that could not be sent within this many seconds (broker down) are "
            "dropped and counted: a gift replayed minutes late must not flash the lights.",
            default=default(MqttSettings, "max_event_age_s"),
            minimum=1,
            maximum=3600,
        ),
        "buffer_size": Number(
            doc="Events held while the broker is unreachable (oldest dropped first).",
            default=default(MqttSettings, "buffer_size"),
            integer=True,
            minimum=0,
            maximum=100_000,
        ),
        "max_command_bytes": Number(
            doc="Largest command payload accepted, in bytes; bigger ones are refused.",
            default=default(MqttSettings, "max_command_bytes"),
            integer=True,
            minimum=64,
            maximum=65_536,
        ),
    },
)


def mqtt_rules(mqtt: Any, doc: Mapping[str, Any]) -> Iterator[Problem]:
    if not isinstance(mqtt, Mapping):
        return
    if (mqtt["cert"] is None) != (mqtt["key"] is None) and INVALID not in (
        mqtt["cert"],
        mqtt["key"],
    ):
        missing = "key" if mqtt["key"] is None else "cert"
        yield Problem(
            f"mqtt.{missing}",
            "is required when a client certificate is used (set both cert and key)",
        )
    server = mqtt["server"]
    if isinstance(server, str) and server.startswith("mqtt://"):
        for name in ("ca", "cert", "key"):
            if mqtt[name] not in (None, INVALID):
                yield Problem(
                    f"mqtt.{name}", "is only used with TLS; change mqtt.server to mqtts://"
                )
    if mqtt["password"] not in (None, INVALID) and mqtt["user"] is None:
        yield Problem("mqtt.user", "is required when mqtt.password is set")


# ----------------------------------------------------------------------------- homeassistant

HOMEASSISTANT = Section(
    doc="Home Assistant MQTT discovery (one device per streamer plus one for the bridge).",
    hints={"experimental_event_entities": "event entities are always used"},
    children={
        "enabled": Bool(
            doc="Publish discovery configs.", default=default(HomeAssistantSettings, "enabled")
        ),
        "discovery_topic": _topic(
            "Home Assistant's discovery prefix.", default(HomeAssistantSettings, "discovery_topic")
        ),
        "status_topic": _topic(
            "Where Home Assistant publishes its birth message; discovery is re-sent on `online`.",
            default(HomeAssistantSettings, "status_topic"),
        ),
        "legacy_component_discovery": Bool(
            doc="One discovery topic per entity, for Home Assistant versions without "
            "device-based discovery.",
            default=default(HomeAssistantSettings, "legacy_component_discovery"),
        ),
        "chat_event_enabled_by_default": Bool(
            doc="Create the (busy) chat event entity enabled.",
            default=default(HomeAssistantSettings, "chat_event_enabled_by_default"),
        ),
        "rediscover_delay_s": Number(
            doc="Longest random delay before re-announcing after Home Assistant restarts.",
            default=default(HomeAssistantSettings, "rediscover_delay_s"),
            minimum=0,
            maximum=300,
        ),
    },
)


def homeassistant_rules(ha: Any, doc: Mapping[str, Any]) -> Iterator[Problem]:
    mqtt = doc.get("mqtt")
    if not isinstance(ha, Mapping) or not isinstance(mqtt, Mapping) or ha["enabled"] is not True:
        return
    base, prefix = mqtt["base_topic"], ha["discovery_topic"]
    if not isinstance(base, str) or not isinstance(prefix, str):
        return
    if base == prefix:
        yield Problem(
            "mqtt.base_topic",
            f"must differ from homeassistant.discovery_topic ({prefix!r}): "
            "Home Assistant would read the bridge's own topics as discovery configs",
        )
    elif base.startswith(prefix + "/") or prefix.startswith(base + "/"):
        yield Problem(
            "mqtt.base_topic",
            f"must not be nested with homeassistant.discovery_topic ({prefix!r})",
        )


# ----------------------------------------------------------------------------- tiktok

_HTTP = ("http", "https")


def _sup(name: str) -> Any:
    return default(SupervisorSettings, name)


# How each streamer's supervisor polls, backs off and gives up for a while (issue 3).
# Floors keep a mistyped value from hammering TikTok; tests build SupervisorSettings directly.
SUPERVISION = Section(
    doc="Timings of the per-streamer supervision: polling, back-off, watchdog, caps. "
    "The defaults are polite to TikTok; lowering them risks rate limits and IP blocks.",
    children={
        "live_poll_jitter": Number(
            doc="Random spread of every poll interval, as a fraction (0.2 = ±20 %), so many "
            "streamers do not poll in lock-step.",
            default=_sup("live_poll_jitter"),
            minimum=0,
            maximum=0.5,
        ),
        "ended_poll_interval_s": Number(
            doc="Poll interval right after a stream ended (streamers often restart within a "
            "minute); used for `ended_polls` polls, then `live_poll_interval_s` again.",
            default=_sup("ended_poll_interval_s"),
            minimum=10,
            maximum=3600,
        ),
        "ended_polls": Number(
            doc="How many polls after a stream end use `ended_poll_interval_s` (0: none).",
            default=_sup("ended_polls"),
            integer=True,
            minimum=0,
            maximum=20,
        ),
        "cold_start_stagger_s": Number(
            doc="Delay between the first checks of consecutive streamers at start-up, so a "
            "restart does not fire every streamer's calls at once.",
            default=_sup("cold_start_stagger_s"),
            minimum=0,
            maximum=300,
        ),
        "backoff_initial_s": Number(
            doc="First retry delay after a transient failure (connection lost, sign server "
            "down); doubles per failure, with full jitter.",
            default=_sup("backoff_initial_s"),
            minimum=1,
            maximum=300,
        ),
        "backoff_max_s": Number(
            doc="Longest retry delay after transient failures; also the wait after "
            "`not_found`, `age_restricted`, `auth_expired` and `reconnect_limited`.",
            default=_sup("backoff_max_s"),
            minimum=10,
            maximum=86_400,
        ),
        "blocked_backoff_s": Number(
            doc="Wait after TikTok blocked us (DEVICE_BLOCKED, refused handshake, captcha), "
            "with jitter. Retrying a block soon makes it worse.",
            default=_sup("blocked_backoff_s"),
            minimum=60,
            maximum=86_400,
        ),
        "healthy_after_s": Number(
            doc="A connection must stay up this long before the back-off starts again at "
            "`backoff_initial_s` (stops flapping connections from retrying fast).",
            default=_sup("healthy_after_s"),
            minimum=10,
            maximum=86_400,
        ),
        "silent_check_s": Number(
            doc="Connected but no event for this long: re-check that the stream is live. "
            "Not live: the stream ended. Live but no message frame at all: reconnect.",
            default=_sup("silent_check_s"),
            minimum=30,
            maximum=86_400,
        ),
        "max_reconnects_per_hour": Number(
            doc="Connection attempts per streamer in a rolling hour; beyond it the streamer "
            "waits `backoff_max_s` (status `reconnect_limited`, a `watch_error` event).",
            default=_sup("max_reconnects_per_hour"),
            integer=True,
            minimum=1,
            maximum=120,
        ),
        "not_found_confirmations": Number(
            doc='For an account that was found before, how many "user not found" answers '
            "in a row it takes to publish `not_found` (TikTok sometimes says so while live).",
            default=_sup("not_found_confirmations"),
            integer=True,
            minimum=1,
            maximum=20,
        ),
    },
)

TIKTOK = Section(
    doc="How the bridge talks to TikTok (shared by all streamers).",
    hints={
        "sign_api_key": "use tiktok.sign_server.api_key",
        "session_id": "use tiktok.session.session_id",
        "session_file": "use tiktok.session.session_id (with !secret)",
        **{name: f"use tiktok.supervision.{name}" for name in SUPERVISION.children},
    },
    children={
        "connection": Text(
            doc="`direct`: connect to TikTok's WebSocket without a sign server. `sign_server`: "
            "always use the sign server. `auto`: the sign server when `sign_server.url` or "
            "`sign_server.api_key` is set, else direct.",
            default=default(TikTokSettings, "connection"),
            choices=("auto", "sign_server", "direct"),
        ),
        "sign_server": Section(
            doc="Third-party sign server (e.g. Euler Stream).",
            children={
                "url": Url(
                    doc="Sign server base URL; setting it turns the sign server on in `auto` "
                    "mode. Takes precedence over `endpoints.sign_server`.",
                    schemes=_HTTP,
                ),
                "api_key": Text(
                    doc="Sign server API key (higher rate limits; needed to send chat).",
                    secret=True,
                    max_length=1024,
                ),
                "send_session": Bool(
                    doc="Also send the TikTok session to the sign server (it then holds your "
                    "account's login). Needed for age-restricted rooms and chat sending.",
                    default=default(TikTokSettings, "session_to_sign_server"),
                ),
            },
        ),
        "session": Section(
            doc="A logged-in TikTok session (the `sessionid` and `tt-target-idc` cookies). "
            "Treat it like a password.",
            children={
                "session_id": Text(
                    doc="The `sessionid` cookie. Use `!secret`.", secret=True, max_length=1024
                ),
                "tt_target_idc": Text(
                    doc="The `tt-target-idc` cookie: the account's data centre.",
                    default=default(Session, "tt_target_idc"),
                    pattern=r"[a-z0-9-]{1,32}",
                    pattern_doc="lower-case letters, digits and - (e.g. useast1a, eu-ttp2)",
                ),
            },
        ),
        "proxy": Url(
            doc="Proxy for every TikTok and sign-server call (HTTP and WebSocket). "
            "May carry credentials (`socks5://user:password@host:1080`); they are redacted.",
            schemes=("http", "https", "socks5", "socks5h"),
            allow_userinfo=True,
        ),
        "live_poll_interval_s": Number(
            doc="How often an offline streamer is checked for going live (with jitter). "
            "Faster polling gets the IP rate-limited or blocked.",
            default=_sup("live_poll_interval_s"),
            minimum=15,
            maximum=86_400,
        ),
        "calls_per_minute": Number(
            doc="Budget of TikTok and sign-server calls per minute, shared by all streamers.",
            default=_sup("calls_per_minute"),
            integer=True,
            minimum=1,
            maximum=600,
        ),
        "supervision": SUPERVISION,
        "heartbeat_interval_s": Number(
            doc="WebSocket heartbeat interval, unless TikTok asks for another one.",
            default=default(TikTokSettings, "heartbeat_interval_s"),
            minimum=1,
            maximum=60,
        ),
        "stale_after_s": Number(
            doc="A connection without any frame for this long is treated as dead and re-opened.",
            default=default(TikTokSettings, "stale_after_s"),
            minimum=10,
            maximum=3600,
        ),
        "http_timeout_s": Number(
            doc="Timeout of one HTTP call.",
            default=default(TikTokSettings, "http_timeout_s"),
            minimum=1,
            maximum=300,
        ),
        "connect_timeout_s": Number(
            doc="Timeout of opening the WebSocket.",
            default=default(TikTokSettings, "connect_timeout_s"),
            minimum=1,
            maximum=300,
        ),
        "language": Text(
            doc="Language sent to TikTok (affects gift names and system messages).",
            default=default(TikTokSettings, "language"),
            pattern=r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?",
            pattern_doc="a language code such as en, de or pt-BR",
        ),
        "region": Text(
            doc="Region sent to TikTok.",
            default=default(TikTokSettings, "region"),
            pattern=r"[A-Z]{2}",
            pattern_doc="a two-letter country code such as US or DE",
            normalize=str.upper,
        ),
        "user_agent": Text(
            doc="Browser User-Agent used for every call. Change only when TikTok blocks the "
            "default; it must look like a real browser.",
            default=default(TikTokSettings, "user_agent"),
            max_length=512,
        ),
        "endpoints": Section(
            doc="TikTok base URLs (region hosts, a local simulator).",
            children={
                "www": Url(doc="Web site.", default=default(Endpoints, "www"), schemes=_HTTP),
                "webcast": Url(
                    doc="Webcast API.", default=default(Endpoints, "webcast"), schemes=_HTTP
                ),
                "websocket": Url(
                    doc="Push WebSocket (direct mode).",
                    default=default(Endpoints, "websocket"),
                    schemes=("ws", "wss"),
                ),
                "sign_server": Url(
                    doc="Sign server, unless `sign_server.url` is set.",
                    default=default(Endpoints, "sign_server"),
                    schemes=_HTTP,
                ),
            },
        ),
    },
)


def tiktok_rules(tiktok: Any, doc: Mapping[str, Any]) -> Iterator[Problem]:
    if not isinstance(tiktok, Mapping):
        return
    session, sign = tiktok["session"], tiktok["sign_server"]
    no_session = isinstance(session, Mapping) and session["session_id"] is None
    if no_session and isinstance(sign, Mapping) and sign["send_session"] is True:
        yield Problem(
            "tiktok.sign_server.send_session",
            "is on but there is no session to send; set tiktok.session.session_id",
        )
    stale, heartbeat = tiktok["stale_after_s"], tiktok["heartbeat_interval_s"]
    if isinstance(stale, float) and isinstance(heartbeat, float) and stale < 2 * heartbeat:
        yield Problem(
            "tiktok.stale_after_s",
            f"must be at least twice tiktok.heartbeat_interval_s ({heartbeat:g}), "
            "or quiet but healthy connections would be dropped",
        )
    yield from _supervision_rules(tiktok["supervision"])


def _supervision_rules(sup: Any) -> Iterator[Problem]:
    if not isinstance(sup, Mapping):
        return
    initial, maximum = sup["backoff_initial_s"], sup["backoff_max_s"]
    if isinstance(initial, float) and isinstance(maximum, float) and maximum < initial:
        yield Problem(
            "tiktok.supervision.backoff_max_s",
            f"must be at least tiktok.supervision.backoff_initial_s ({initial:g})",
        )


# ----------------------------------------------------------------------------- streamers

_USER_DOC = "1 to 64 characters: a-z 0-9 . _ - (it becomes an MQTT topic level)"
# Topic levels the bridge itself uses under the base topic.
RESERVED_USERS = frozenset({"bridge"})


def normalize_user(value: str) -> str:
    return value.strip().removeprefix("@").lower()


def user_problem(user: str) -> str | None:
    if user in RESERVED_USERS:
        return f"{user!r} is reserved for the bridge's own topics"
    if set(user) == {"."}:
        return "must contain a letter or digit"
    return None


def ha_slug(user: str) -> str:
    """Home Assistant object ids allow [a-zA-Z0-9_-]: the dots of a TikTok name become _."""
    return user.replace(".", "_")


STREAMER = Section(
    doc="One TikTok account to watch.",
    hints={
        "unique_id": "use 'user'",
        "like_window_s": "use 'like_window_ms' (milliseconds)",
        "enabled": "use 'watch'",
    },
    children={
        "user": Text(
            doc="TikTok user name (`@alice.live` or `alice.live`); lower-cased, `@` dropped. "
            "Used as the topic level: `<base_topic>/<user>/...`.",
            required=True,
            normalize=normalize_user,
            pattern=r"[a-z0-9._-]{1,64}",
            pattern_doc=_USER_DOC,
            rule=user_problem,
        ),
        "name": Text(
            doc="Display name in Home Assistant; the user name when empty.", max_length=64
        ),
        "room_id": Number(
            doc="Pin the room id and skip looking it up (when lookups are blocked).",
            integer=True,
            minimum=1,
            maximum=2**63 - 1,
        ),
        "watch": Bool(
            doc="Watch this streamer at start. The `watch/set` topic switches it at run time "
            "and that choice is kept across restarts.",
            default=default(StreamerSettings, "watch"),
        ),
        "events": TextList(
            doc="Event topics to publish. `member` (joins), `delete`, `rank` and `unknown` are "
            "off by default because they are busy or rarely wanted.",
            default=DEFAULT_EVENTS,
            choices=ALL_EVENTS,
        ),
        "gift_tiers": MapOf(
            doc="Diamond thresholds naming the gift `event_type`: a finished gift worth at "
            "least the threshold of tier `large` is published as `gift_large`.",
            default={t.name.removeprefix("gift_"): t.min_diamonds for t in DEFAULT_GIFT_TIERS},
            value=Number(doc="Minimum diamonds.", integer=True, minimum=0, maximum=10**9),
            min_items=1,
        ),
        "gift_progress": Bool(
            doc="Also publish the running count of gift streaks (combos) while they happen.",
            default=default(StreamerSettings, "gift_progress"),
        ),
        "gift_streak_timeout_s": Number(
            doc="Finish a gift streak whose end marker never arrives after this many seconds.",
            default=default(StreamerSettings, "gift_streak_timeout_s"),
            minimum=1,
            maximum=300,
        ),
        "like_window_ms": Number(
            doc="Likes are summed over this window before publishing (0 = every message).",
            default=round(default(StreamerSettings, "like_window_s") * 1000),
            integer=True,
            minimum=0,
            maximum=60_000,
        ),
        "chat_send": Section(
            doc="Sending chat messages from MQTT (`<base_topic>/<user>/chat/send`). Needs "
            "`tiktok.session.session_id` and `tiktok.sign_server.api_key`; the account may "
            "be actioned by TikTok for automated chat.",
            children={
                "enabled": Bool(doc="Allow sending.", default=default(ChatSendSettings, "enabled")),
                "min_interval_s": Number(
                    doc="One message per this many seconds on average.",
                    default=default(ChatSendSettings, "min_interval_s"),
                    minimum=1,
                    maximum=3600,
                ),
                "burst": Number(
                    doc="Messages that may be sent back to back.",
                    default=default(ChatSendSettings, "burst"),
                    integer=True,
                    minimum=1,
                    maximum=20,
                ),
                "max_length": Number(
                    doc="Longer messages are refused.",
                    default=default(ChatSendSettings, "max_length"),
                    integer=True,
                    minimum=1,
                    maximum=500,
                ),
            },
        ),
    },
)

STREAMERS = ListOf(
    doc="The TikTok accounts to watch. An entry may be just the user name. "
    "`streamers: []` starts with none (add them at run time with `bridge/request/streamer/add`).",
    item=STREAMER,
    shorthand="user",
    required=True,
    missing_message="list at least one streamer (or write `streamers: []` to add them at run "
    "time through bridge/request/streamer/add)",
)


def streamers_rules(streamers: Any, doc: Mapping[str, Any]) -> Iterator[Problem]:
    if not isinstance(streamers, list):
        return
    yield from _duplicate_users(streamers)
    tiktok = doc.get("tiktok")
    if isinstance(tiktok, Mapping):
        for index, streamer in enumerate(streamers):
            if isinstance(streamer, Mapping):
                yield from _chat_send_rules(
                    streamer, join(join("streamers", index), "chat_send"), tiktok
                )
                yield from _gift_tier_rules(streamer, join(join("streamers", index), "gift_tiers"))


def _duplicate_users(streamers: list[Any]) -> Iterator[Problem]:
    seen_users: dict[str, int] = {}
    seen_slugs: dict[str, int] = {}
    for index, streamer in enumerate(streamers):
        user = streamer.get("user") if isinstance(streamer, Mapping) else None
        if not isinstance(user, str):
            continue
        path = join(join("streamers", index), "user")
        if user in seen_users:
            yield Problem(path, f"{user!r} is already listed as streamers[{seen_users[user]}]")
        elif ha_slug(user) in seen_slugs:
            other = seen_slugs[ha_slug(user)]
            yield Problem(
                path,
                f"{user!r} and streamers[{other}] would get the same Home Assistant id "
                f"({ha_slug(user)!r}, dots become _)",
            )
        seen_users.setdefault(user, index)
        seen_slugs.setdefault(ha_slug(user), index)


def _chat_send_rules(
    streamer: Mapping[str, Any], path: str, tiktok: Mapping[str, Any]
) -> Iterator[Problem]:
    chat = streamer["chat_send"]
    if not isinstance(chat, Mapping) or chat["enabled"] is not True:
        return
    session, sign = tiktok["session"], tiktok["sign_server"]
    missing = []
    if isinstance(session, Mapping) and session["session_id"] is None:
        missing.append("tiktok.session.session_id (the account that writes)")
    if isinstance(sign, Mapping) and sign["api_key"] is None:
        missing.append("tiktok.sign_server.api_key (TikTok only accepts signed chat requests)")
    if isinstance(sign, Mapping) and sign["send_session"] is not True:
        missing.append("tiktok.sign_server.send_session: true (chat passes the session to it)")
    if tiktok["connection"] == "direct":
        missing.append("tiktok.connection other than direct")
    if missing:
        yield Problem(
            join(path, "enabled"),
            "chat sending needs " + " and ".join(missing) + "; set them or disable chat_send",
        )


def _gift_tier_rules(streamer: Mapping[str, Any], path: str) -> Iterator[Problem]:
    tiers = streamer["gift_tiers"]
    if not isinstance(tiers, Mapping):
        return
    by_threshold: dict[int, str] = {}
    for name, minimum in tiers.items():
        if minimum in by_threshold:
            yield Problem(
                join(path, name),
                f"has the same threshold ({minimum}) as tier {by_threshold[minimum]!r}",
            )
        by_threshold.setdefault(minimum, name)


# ----------------------------------------------------------------------------- logging, service

_LEVELS = ("debug", "info", "warning", "error", "critical")

LOGGING = Section(
    doc="Log output.",
    children={
        "level": Text(
            doc="Level of the log on stderr (journald).",
            default=default(LoggingSettings, "level"),
            choices=_LEVELS,
            normalize=str.lower,
        ),
        "mqtt_level": Text(
            doc="Records at or above this level are also published on "
            "`<base_topic>/bridge/logging`; `off` disables that.",
            default=default(LoggingSettings, "mqtt_level"),
            choices=(*_LEVELS, "off"),
            normalize=str.lower,
        ),
    },
)

SERVICE = Section(
    doc="Files of the running service.",
    children={
        "state_dir": FilePath(
            doc="Folder for state kept across restarts (watch switches, streamers added at "
            "run time). Relative paths are relative to the configuration file.",
            default_doc="`$STATE_DIRECTORY` (systemd `StateDirectory=`) when set, else `state` "
            "beside the configuration file",
        ),
        "health_file": FilePath(
            doc="Heartbeat file written every `health_interval_s`; `tiktok2mqtt healthcheck` "
            "(Docker HEALTHCHECK) reads it.",
            default_doc="`health` in `state_dir`",
        ),
        "health_interval_s": Number(
            doc="How often the health file and `<base_topic>/bridge/health` are refreshed.",
            default=default(ServiceSettings, "health_interval_s"),
            minimum=5,
            maximum=3600,
        ),
    },
)

for _spec in (
    SectionSpec("mqtt", MQTT, rules=mqtt_rules),
    SectionSpec("homeassistant", HOMEASSISTANT, rules=homeassistant_rules),
    SectionSpec("tiktok", TIKTOK, rules=tiktok_rules),
    SectionSpec("streamers", STREAMERS, rules=streamers_rules),
    SectionSpec("logging", LOGGING),
    SectionSpec("service", SERVICE),
):
    register_section(_spec)
