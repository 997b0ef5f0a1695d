"""Settings of the process edges: log output, state files, limits (`logging:`, `service:`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from bridge.settings.declare import section, setting

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
MqttLogLevel = Literal["debug", "info", "warning", "error", "critical", "off"]


@section("Log output.", restart=False)  # re-applied by a SIGHUP reload
class LoggingSettings:
    level: LogLevel = setting(
        default="info", doc="Level of the log on stderr (journald).", normalize=str.lower
    )
    mqtt_level: MqttLogLevel = setting(
        default="warning",
        doc="Records at or above this level are also published on "
        "`<base_topic>/bridge/logging`; `off` disables that.",
        normalize=str.lower,
    )


@section("Files and limits of the running service.")
class ServiceSettings:
    # Persisted runtime switches (watch on/off, streamers added at runtime).
    state_dir: Path | None = setting(
        default=None,
        doc="Folder for state kept across restarts (watch switches, streamers added at "
        "run time). Relative paths are relative to the configuration file.",
        default_doc="`$STATE_DIRECTORY` (systemd `StateDirectory=`) when set, else `state` "
        "beside the configuration file",
    )
    # Heartbeat file read by `tiktok2mqtt healthcheck` (Docker HEALTHCHECK).
    health_file: Path | None = setting(
        default=None,
        doc="Heartbeat file written every `health_interval_s`; `tiktok2mqtt healthcheck` "
        "(Docker HEALTHCHECK) reads it.",
        default_doc="`health` in `state_dir`",
    )
    health_interval_s: float = setting(
        default=30.0,
        doc="How often the health file and `<base_topic>/bridge/health` are refreshed.",
        minimum=5,
        maximum=3600,
    )
    # Each streamer holds a supervisor, maybe a socket, a Home Assistant device and a share
    # of tiktok.calls_per_minute; streamer/add must not be able to create thousands.
    max_streamers: int = setting(
        default=100,
        doc="Most streamers watched at once: from the file and added with "
        "`bridge/request/streamer/add` together. More are refused.",
        minimum=1,
        maximum=1000,
        restart=False,
    )
