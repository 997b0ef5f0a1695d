"""Settings of the MQTT sink and of Home Assistant discovery (`mqtt:`, `homeassistant:`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bridge.settings.declare import section, setting
from bridge.settings.names import topic_prefix_problem
from bridge.settings.problems import Problem
from bridge.settings.schema import INVALID, join

TOPIC_DOC = "MQTT topic without +, #, NUL or empty levels"


def _mqtt_rules(mqtt: Mapping[str, Any], path: str, doc: Mapping[str, Any]) -> Iterator[Problem]:
    cert, key = mqtt["cert"], mqtt["key"]
    if (cert is None) != (key is None) and INVALID not in (cert, key):
        missing = "key" if key is None else "cert"
        yield Problem(
            join(path, missing),
            "is required when a client certificate is used (set both cert and key)",
        )
    server = mqtt["server"]
    if isinstance(server, str) and server.startswith("mqtt://"):
        for name in ("ca", "cert", "key"):
            if mqtt[name] not in (None, INVALID):
                yield Problem(
                    join(path, name), "is only used with TLS; change mqtt.server to mqtts://"
                )
    if mqtt["password"] not in (None, INVALID) and mqtt["user"] is None:
        yield Problem(join(path, "user"), "is required when mqtt.password is set")


@section(
    "Connection to the MQTT broker and how events are published.",
    hints={
        "force_disable_retain": "use 'retain: false'",
        "username": "did you mean 'user'?",
        "port": "put the port in 'server', e.g. mqtts://broker.lan:8883",
        "host": "use 'server', e.g. mqtt://broker.lan:1883",
    },
    rules=_mqtt_rules,
)
class MqttSettings:
    server: str = setting(
        default="mqtt://localhost:1883",
        doc="Broker URL. mqtts:// uses TLS (port 8883 unless given).",
        url=("mqtt", "mqtts"),
    )
    base_topic: str = setting(
        default="tiktok",
        doc="First topic level of everything the bridge publishes (`<base_topic>/bridge/...`, "
        "`<base_topic>/<user>/...`). Must differ from `homeassistant.discovery_topic`.",
        rule=topic_prefix_problem,
        pattern_doc=TOPIC_DOC,
    )
    user: str | None = setting(default=None, doc="Broker user name.", max_length=256)
    password: str | None = setting(
        default=None, doc="Broker password. Use `!secret`.", secret=True, max_length=1024
    )
    client_id: str = setting(
        default="tiktok2mqtt",
        doc="MQTT client id; must be unique on the broker.",
        pattern=r"[A-Za-z0-9_.:-]{1,128}",
        pattern_doc="letters, digits and _ . : - (1 to 128)",
    )
    ca: Path | None = setting(
        default=None,
        doc="CA certificate (PEM) to verify the broker; system CAs when empty.",
        must_exist=True,
    )
    cert: Path | None = setting(
        default=None, doc="Client certificate (PEM); needs `key`.", must_exist=True
    )
    key: Path | None = setting(
        default=None, doc="Private key of the client certificate (PEM).", must_exist=True
    )
    reject_unauthorized: bool = setting(
        default=True, doc="Verify the broker's TLS certificate. Only disable for testing."
    )
    keepalive: int = setting(default=60, doc="MQTT keep-alive in seconds.", minimum=5, maximum=3600)
    event_qos: int = setting(
        default=0,
        doc="QoS of event messages (chat, gift, ...). State topics always use QoS 1.",
        minimum=0,
        maximum=2,
    )
    # Some brokers do not support retain; when False nothing is published retained.
    retain: bool = setting(
        default=True,
        doc="Publish state topics retained. Disable for brokers without retain support.",
    )
    max_event_age_s: float = setting(
        default=15.0,
        doc="Events that could not be sent within this many seconds (broker down) are "
        "dropped and counted: a gift replayed minutes late must not flash the lights.",
        minimum=1,
        maximum=3600,
    )
    buffer_size: int = setting(
        default=1000,
        doc="Events held while the broker is unreachable (oldest dropped first).",
        minimum=0,
        maximum=100_000,
    )
    max_command_bytes: int = setting(
        default=4096,
        doc="Largest command payload accepted, in bytes; bigger ones are refused.",
        minimum=64,
        maximum=65_536,
    )

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


@section(
    "Home Assistant MQTT discovery (one device per streamer plus one for the bridge).",
    hints={"experimental_event_entities": "event entities are always used"},
)
class HomeAssistantSettings:
    enabled: bool = setting(default=True, doc="Publish discovery configs.")
    discovery_topic: str = setting(
        default="homeassistant",
        doc="Home Assistant's discovery prefix.",
        rule=topic_prefix_problem,
        pattern_doc=TOPIC_DOC,
    )
    status_topic: str = setting(
        default="homeassistant/status",
        doc="Where Home Assistant publishes its birth message; discovery is re-sent on `online`.",
        rule=topic_prefix_problem,
        pattern_doc=TOPIC_DOC,
    )
    legacy_component_discovery: bool = setting(
        default=False,
        doc="One discovery topic per entity, for Home Assistant versions without "
        "device-based discovery.",
    )
    chat_event_enabled_by_default: bool = setting(
        default=False, doc="Create the (busy) chat event entity enabled."
    )
    # HA's advice: avoid every integration publishing at the same instant after its birth.
    rediscover_delay_s: float = setting(
        default=5.0,
        doc="Longest random delay before re-announcing after Home Assistant restarts.",
        minimum=0,
        maximum=300,
    )


def base_topic_problems(doc: Mapping[str, Any]) -> Iterator[Problem]:
    """mqtt.base_topic must not overlap Home Assistant's discovery prefix (when discovery is on)."""
    ha, mqtt = doc.get("homeassistant"), doc.get("mqtt")
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
