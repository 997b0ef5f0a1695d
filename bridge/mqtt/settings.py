"""Settings of the MQTT sink, owned by this layer; bridge.config builds them from YAML."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MqttSettings:
    server: str = "mqtt://localhost:1883"  # mqtt:// or mqtts://
    base_topic: str = "tiktok"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str = "tiktok2mqtt"
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    reject_unauthorized: bool = True
    keepalive: int = 60
    event_qos: int = 0
    # Some brokers do not support retain; when False nothing is published retained.
    retain: bool = True
    # Events older than this when they could finally be sent are dropped and counted
    # (a gift replayed minutes late must not flash the lights).
    max_event_age_s: float = 15.0
    # Bounded buffer of events held while the broker is unreachable.
    buffer_size: int = 1000
    # Largest command payload accepted (bytes).
    max_command_bytes: int = 4096

    @property
    def host(self) -> str:
        return self.server.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        rest = self.server.split("://", 1)[-1]
        if ":" in rest.rsplit("]", 1)[-1]:
            return int(rest.rsplit(":", 1)[1])
        return 8883 if self.tls else 1883

    @property
    def tls(self) -> bool:
        return self.server.startswith("mqtts://")


@dataclass(frozen=True, slots=True)
class HomeAssistantSettings:
    """Home Assistant MQTT discovery; bridge.config builds it from the `homeassistant` section."""

    enabled: bool = True
    discovery_topic: str = "homeassistant"
    # HA publishes its birth (`online`) here; discovery is re-announced when it arrives.
    status_topic: str = "homeassistant/status"
    # Per-entity discovery topics for HA installs older than device-based discovery.
    legacy_component_discovery: bool = False
    # Chat arrives at high volume; its event entity is created disabled unless asked for.
    chat_event_enabled_by_default: bool = False
    # Upper bound of the random delay before re-announcing after HA's birth message
    # (HA's advice: avoid every integration publishing at the same instant).
    rediscover_delay_s: float = 5.0
