"""Home Assistant add-on: the add-on's options (plus an optional file) → the bridge's config.

Pure functions, no I/O: ``parse_options`` checks ``/data/options.json`` and lists every
problem by option name; ``build_config`` turns the options, the broker (from the
Supervisor's MQTT service or the options) and the optional ``tiktok2mqtt.yaml`` of the
add-on's config folder into the mapping that is written as the bridge's ``config.yaml``.
Only public configuration keys (docs/configuration.md) are produced; the bridge itself
validates the result like any other file.

The options win over the file for the keys they control; everything else (gift tiers,
action rules, a TikTok session, timings…) comes from the file. Streamers are merged by user
name, so the file can add settings to a streamer listed in the options.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.settings.names import RESERVED_USERS, user_problem
from bridge.settings.names import normalise_user as normalize_user

__all__ = [
    "EXTRA_FILE",
    "AddonOptions",
    "Broker",
    "OptionsInvalid",
    "build_config",
    "literal",
    "normalize_user",
    "parse_options",
]

# In the add-on's public config folder (/addon_configs/<repo>_tiktok2mqtt on the host).
EXTRA_FILE = "tiktok2mqtt.yaml"
CONNECTIONS = ("auto", "sign_server", "direct")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_TOP_KEYS = frozenset(
    ("streamers", "connection", "sign_server_key", "sign_server_url", "discovery",
     "actions", "log_level", "mqtt")
)  # fmt: skip
_STREAMER_KEYS = frozenset(("user", "name"))
_MQTT_KEYS = frozenset(("server", "user", "password"))
_MQTT_URL = re.compile(r"mqtts?://[^\s/@]+/?", re.IGNORECASE)  # no user:password@ in it
_HTTP_URL = re.compile(r"https?://\S+", re.IGNORECASE)


class OptionsInvalid(ValueError):
    """Options (or the extra file) the add-on cannot start with; every problem is listed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Streamer:
    user: str  # normalized: lower case, no "@"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AddonOptions:
    streamers: tuple[Streamer, ...] = ()
    connection: str = "auto"
    sign_server_key: str | None = None
    sign_server_url: str | None = None
    discovery: bool = True
    actions: bool = True
    log_level: str = "info"
    mqtt_server: str | None = None
    mqtt_user: str | None = None
    mqtt_password: str | None = None


@dataclass(frozen=True, slots=True)
class Broker:
    """Where the bridge connects; ``source`` says where it came from (for the start log)."""

    server: str
    user: str | None
    password: str | None
    source: str


def literal(text: str) -> str:
    """Escape ``${`` so the bridge's ``${VAR}`` expansion leaves a value from HA as it is."""
    return text.replace("${", "$${")


# ---------------------------------------------------------------- options.json


class _Checker:
    """Collects problems instead of stopping at the first one."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def unknown(self, path: str, data: Mapping[str, Any], allowed: frozenset[str]) -> None:
        for key in sorted(set(data) - allowed, key=str):
            self.add(f"{path}{key}", f"unknown option (known: {', '.join(sorted(allowed))})")

    def text(self, path: str, value: Any, *, required: bool = False) -> str | None:
        if value is None or value == "":
            if required:
                self.add(path, "is required")
            return None
        if not isinstance(value, str):
            self.add(path, f"must be text, not {type(value).__name__}")
            return None
        return value

    def boolean(self, path: str, value: Any, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add(path, f"must be true or false, not {value!r}")
            return default
        return value

    def choice(self, path: str, value: Any, allowed: tuple[str, ...], default: str) -> str:
        if value is None:
            return default
        if value not in allowed:
            self.add(path, f"must be one of {', '.join(allowed)}, not {value!r}")
            return default
        return str(value)

    def url(self, path: str, value: Any, pattern: re.Pattern[str], schemes: str) -> str | None:
        text = self.text(path, value)
        if text is not None and not pattern.fullmatch(text.strip()):
            self.add(path, f"must be a {schemes} URL")  # not echoed: may hold a password
            return None
        return text.strip() if text is not None else None


def parse_options(raw: Any) -> AddonOptions:
    """Check the options the Supervisor wrote; raise OptionsInvalid listing every problem."""
    check = _Checker()
    if not isinstance(raw, Mapping):
        raise OptionsInvalid(["options: must be a JSON object"])
    check.unknown("", raw, _TOP_KEYS)
    streamers = _streamers(check, raw.get("streamers"))
    mqtt = raw.get("mqtt") or {}
    if not isinstance(mqtt, Mapping):
        check.add("mqtt", "must be a group of server, user and password")
        mqtt = {}
    check.unknown("mqtt.", mqtt, _MQTT_KEYS)
    options = AddonOptions(
        streamers=streamers,
        connection=check.choice("connection", raw.get("connection"), CONNECTIONS, "auto"),
        sign_server_key=check.text("sign_server_key", raw.get("sign_server_key")),
        sign_server_url=check.url(
            "sign_server_url", raw.get("sign_server_url"), _HTTP_URL, "http:// or https://"
        ),
        discovery=check.boolean("discovery", raw.get("discovery"), True),
        actions=check.boolean("actions", raw.get("actions"), True),
        log_level=check.choice("log_level", raw.get("log_level"), LOG_LEVELS, "info"),
        mqtt_server=check.url("mqtt.server", mqtt.get("server"), _MQTT_URL, "mqtt:// or mqtts://"),
        mqtt_user=check.text("mqtt.user", mqtt.get("user")),
        mqtt_password=check.text("mqtt.password", mqtt.get("password")),
    )
    if options.mqtt_server is None and (options.mqtt_user or options.mqtt_password):
        check.add("mqtt.server", "is required when mqtt.user or mqtt.password is set")
    if check.problems:
        raise OptionsInvalid(check.problems)
    return options


def _streamers(check: _Checker, value: Any) -> tuple[Streamer, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        check.add("streamers", "must be a list")
        return ()
    found: list[Streamer] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        path = f"streamers[{index}]"
        if not isinstance(entry, Mapping):
            check.add(path, "must be an entry with user (and optionally name)")
            continue
        check.unknown(f"{path}.", entry, _STREAMER_KEYS)
        user = check.text(f"{path}.user", entry.get("user"), required=True)
        name = check.text(f"{path}.name", entry.get("name"))
        if user is None:
            continue
        normalized = normalize_user(user)
        problem = _user_problem(normalized)
        if problem:
            check.add(f"{path}.user", f"{user!r} {problem}")
        elif normalized in seen:
            check.add(f"{path}.user", f"{user!r} is listed twice")
        else:
            seen.add(normalized)
            found.append(Streamer(normalized, name))
    return tuple(found)


def _user_problem(user: str) -> str | None:
    """The bridge's rules for a streamer (bridge.settings.names), in the add-on's words."""
    if user_problem(user) is None:
        return None
    if user in RESERVED_USERS:
        return "collides with the bridge's own topics"
    return "is not a TikTok user name (letters, digits, . _ - ; at most 64)"


# ---------------------------------------------------------------- the bridge's config


def build_config(
    options: AddonOptions,
    broker: Broker,
    state_dir: str,
    extra: Any = None,
) -> dict[str, Any]:
    """The bridge configuration: `extra` (the file, may be None) overridden by the options."""
    if extra is None:
        extra = {}
    if not isinstance(extra, Mapping):
        raise OptionsInvalid([f"{EXTRA_FILE}: must be a mapping of configuration sections"])
    config: dict[str, Any] = copy.deepcopy(dict(extra))
    problems: list[str] = []

    def section(*path: str) -> dict[str, Any]:
        node = config
        for depth, key in enumerate(path):
            child = node.setdefault(key, {})
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                problems.append(f"{EXTRA_FILE}: {'.'.join(path[: depth + 1])} must be a mapping")
                child = node[key] = {}
            node = child
        return node

    mqtt = section("mqtt")
    mqtt["server"] = literal(broker.server)
    for key, value in (("user", broker.user), ("password", broker.password)):
        if value:
            mqtt[key] = literal(value)
        else:
            mqtt.pop(key, None)  # an anonymous broker: no stale credentials from the file
    section("homeassistant")["enabled"] = options.discovery
    tiktok = section("tiktok")
    tiktok["connection"] = options.connection
    if options.sign_server_key or options.sign_server_url:
        sign = section("tiktok", "sign_server")
        if options.sign_server_key:
            sign["api_key"] = literal(options.sign_server_key)
        if options.sign_server_url:
            sign["url"] = literal(options.sign_server_url)
    section("logging")["level"] = options.log_level
    section("service")["state_dir"] = state_dir
    section("actions")["enabled"] = options.actions
    config["streamers"] = _merge_streamers(options.streamers, config.get("streamers"), problems)
    if problems:
        raise OptionsInvalid(problems)
    return config


def _merge_streamers(streamers: tuple[Streamer, ...], extra: Any, problems: list[str]) -> list[Any]:
    """Options' streamers first (with the file's settings for the same user), then the rest."""
    if extra is None:
        extra = []
    if not isinstance(extra, list):
        problems.append(f"{EXTRA_FILE}: streamers must be a list")
        extra = []
    by_user: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(extra):
        item = {"user": entry} if isinstance(entry, str) else entry
        user = item.get("user") if isinstance(item, dict) else None
        if not isinstance(user, str):
            problems.append(f"{EXTRA_FILE}: streamers[{index}] needs a user")
        elif normalize_user(user) in by_user:
            problems.append(f"{EXTRA_FILE}: streamers[{index}].user {user!r} is listed twice")
        else:
            by_user[normalize_user(user)] = item
    merged: list[Any] = []
    for streamer in streamers:
        entry = {**by_user.get(streamer.user, {}), "user": streamer.user}
        if streamer.name:
            entry["name"] = literal(streamer.name)
        merged.append(entry)
    listed = {streamer.user for streamer in streamers}
    return merged + [item for user, item in by_user.items() if user not in listed]
