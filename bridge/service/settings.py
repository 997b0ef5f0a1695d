"""Settings of the process edges (logging, state, health); bridge.config builds them from YAML."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
MqttLogLevel = Literal["debug", "info", "warning", "error", "critical", "off"]


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: LogLevel = "info"  # stderr / journald
    # Records at or above this level are also published on <base_topic>/bridge/logging.
    mqtt_level: MqttLogLevel = "warning"


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    # Persisted runtime switches (watch on/off, streamers added at runtime).
    state_dir: Path = Path("state")
    # Heartbeat file read by `tiktok2mqtt healthcheck` (Docker HEALTHCHECK).
    health_file: Path = Path("state/health")
    health_interval_s: float = 30.0
