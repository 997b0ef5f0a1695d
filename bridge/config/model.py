"""The validated configuration handed to the daemon: one frozen object of settings."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bridge.core.settings import StreamerSettings, SupervisorSettings
from bridge.mqtt.settings import HomeAssistantSettings, MqttSettings
from bridge.service.settings import LoggingSettings, ServiceSettings
from bridge.tiktok.settings import TikTokSettings

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Config:
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    tiktok: TikTokSettings = field(default_factory=TikTokSettings)
    supervisor: SupervisorSettings = field(default_factory=SupervisorSettings)
    streamers: tuple[StreamerSettings, ...] = ()
    homeassistant: HomeAssistantSettings = field(default_factory=HomeAssistantSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    source: Path | None = None  # the file it was loaded from
    # Built values of sections registered by other layers (e.g. "actions"), by section name.
    sections: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    # The whole document as checked, with defaults filled in and secrets already "***".
    redacted: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False)

    def redacted_dict(self) -> dict[str, Any]:
        """JSON-ready copy of the configuration for bridge/info: secrets are "***"."""
        return copy.deepcopy(dict(self.redacted))

    def streamer(self, user: str) -> StreamerSettings | None:
        return next((s for s in self.streamers if s.user == user), None)
