"""The configuration file as one declared section: every top-level key and the rules across them.

The sections themselves are declared where they belong: the shared ones in bridge.settings,
`actions:` in bridge.actions.rules (its checks need the actions' template language).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bridge.actions.rules import ActionsSettings
from bridge.settings.cluster import ClusterConfig
from bridge.settings.declare import node_of, section, setting
from bridge.settings.mqtt import HomeAssistantSettings, MqttSettings, base_topic_problems
from bridge.settings.problems import Problem
from bridge.settings.schema import Section, join
from bridge.settings.service import LoggingSettings, ServiceSettings
from bridge.settings.streamer import StreamerSettings
from bridge.settings.tiktok import SupervisorSettings, TikTokSettings

_EMPTY: Mapping[str, Any] = MappingProxyType({})

ROOT_HINTS: Mapping[str, str] = {
    "advanced": "its settings live in `service`, `logging` and `mqtt`",
    "streamer": "did you mean 'streamers' (a list)?",
}


def _root_rules(doc: Mapping[str, Any], path: str, root: Mapping[str, Any]) -> Iterator[Problem]:
    yield from base_topic_problems(doc)
    streamers, service = doc["streamers"], doc["service"]
    if not isinstance(streamers, list):
        return
    yield from duplicate_users(streamers)
    limit = service.get("max_streamers") if isinstance(service, Mapping) else None
    if isinstance(limit, int) and len(streamers) > limit:
        yield Problem(
            "streamers",
            f"lists {len(streamers)} streamers, more than service.max_streamers ({limit})",
        )


def duplicate_users(streamers: list[Any]) -> Iterator[Problem]:
    """A user listed twice. (`a.b` and `a_b` may both be listed: their Home Assistant ids
    differ, see bridge.mqtt.discovery.)"""
    seen: dict[str, int] = {}
    for index, streamer in enumerate(streamers):
        user = streamer.get("user") if isinstance(streamer, Mapping) else None
        if not isinstance(user, str):
            continue
        if user in seen:
            yield Problem(
                join(join("streamers", index), "user"),
                f"{user!r} is already listed as streamers[{seen[user]}]",
            )
        seen.setdefault(user, index)


@section("The configuration file.", hints=ROOT_HINTS, rules=_root_rules)
class Config:
    """The validated configuration handed to the daemon: one frozen object of settings."""

    mqtt: MqttSettings = setting(default_factory=MqttSettings)
    homeassistant: HomeAssistantSettings = setting(default_factory=HomeAssistantSettings)
    tiktok: TikTokSettings = setting(default_factory=TikTokSettings)
    streamers: tuple[StreamerSettings, ...] = setting(
        default=(),
        required=True,  # in the file: `streamers: []` says "none" on purpose
        doc="The TikTok accounts to watch. An entry may be just the user name. "
        "`streamers: []` starts with none (add them at run time with "
        "`bridge/request/streamer/add`).",
        shorthand="user",
        missing_message="list at least one streamer (or write `streamers: []` to add them at "
        "run time through bridge/request/streamer/add)",
        restart=False,  # added, removed and updated in place by a reload
    )
    logging: LoggingSettings = setting(default_factory=LoggingSettings)
    service: ServiceSettings = setting(default_factory=ServiceSettings)
    actions: ActionsSettings = setting(default_factory=ActionsSettings)
    cluster: ClusterConfig | None = setting(default=None)
    source: Path | None = None  # the file it was loaded from
    # The whole document as checked, defaults filled in (holds secrets: never shown as is).
    document: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: _EMPTY, repr=False, compare=False
    )

    @property
    def supervisor(self) -> SupervisorSettings:
        return self.tiktok.supervisor

    @property
    def sections(self) -> Mapping[str, Any]:
        """Sections declared outside bridge.settings, by name."""
        return {"actions": self.actions}

    def redacted_dict(self) -> dict[str, Any]:
        """JSON-ready copy of the configuration for bridge/info: secrets are "***"."""
        redacted: dict[str, Any] = ROOT.redact(self.document) if self.document else {}
        return redacted

    def streamer(self, user: str) -> StreamerSettings | None:
        return next((s for s in self.streamers if s.user == user), None)


ROOT: Section = node_of(Config)
