"""Home Assistant MQTT discovery: one HA device per watched streamer plus one for the bridge.

Two halves:

* **Pure builders** (``streamer_device``, ``bridge_device``, ``discovery_messages``): config in,
  ``(topic, payload)`` out. Every value comes from configuration (user, display name, gift
  tiers, chat_send, base topic) or the bridge version, never from live data, so a viewer
  can never inject anything into Home Assistant's entity model.
* **DiscoveryPublisher**: keeps what this process announced, publishes it retained (QoS 1)
  through the sink, removes a streamer's device, re-announces after Home Assistant's birth
  message and clears stale configs a previous run of *this* bridge instance left behind.

Topics: device-based discovery ``<prefix>/device/<device_id>/config`` (HA ≥ 2024.11), or with
``legacy_component_discovery`` one ``<prefix>/<component>/<device_id>/<key>/config`` per entity.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bridge.mqtt.topics import StreamerTopics, Topics, check_topic
from bridge.settings.mqtt import HomeAssistantSettings
from bridge.settings.streamer import GOAL_MAX

if TYPE_CHECKING:  # types only: bridge.mqtt must not depend on bridge.core at run time
    from bridge.settings.streamer import StreamerSettings

__all__ = [
    "ORIGIN_NAME",
    "DeviceConfig",
    "DiscoveryPublisher",
    "Ids",
    "bridge_device",
    "discovery_messages",
    "is_owned",
    "streamer_device",
]

log = logging.getLogger(__name__)

ORIGIN_NAME = "tiktok2mqtt"
# Shown by HA as the integration's "support" link on the device page.
DEFAULT_BASE_TOPIC = "tiktok"

# Event topics that get an HA event entity; the others (like, member, battle…) are too busy
# or too specialised for an entity and stay MQTT-only.
EVENT_ENTITIES: tuple[str, ...] = ("gift", "follow", "share", "subscribe", "super_fan", "chat")
# Every component key a streamer device can have. Keys are part of unique ids
# (tiktok_<user>_<key>[_<instance>]), so no key may start or end with "<another key>_":
# user "x" + key "chat_send" would equal user "x" + key "chat" + instance "send".
# tests/mqtt/test_discovery.py checks it.
# Goal entities, per goal of bridge.settings.streamer.GOALS: (number key, progress sensor
# key, name, icon). Singular keys: "likes_goal" would start with the key "likes".
GOAL_ENTITIES: dict[str, tuple[str, str, str, str]] = {
    "likes": ("like_goal", "like_progress", "Like goal", "mdi:heart"),
    "diamonds": ("diamond_goal", "diamond_progress", "Diamond goal", "mdi:diamond-stone"),
    "follows": ("follower_goal", "follower_progress", "Follow goal", "mdi:account-plus"),
}
STREAMER_KEYS: tuple[str, ...] = (
    "live", "viewers", "likes", "diamonds", "follows", "shares",
    *EVENT_ENTITIES, "send_message", "watching", "reconnect", "status",
    *(key for number, progress, _, _ in GOAL_ENTITIES.values() for key in (number, progress)),
    "goal_reached", "reset_goals", "top_gifters", "reset_leaderboard",
)  # fmt: skip
BRIDGE_KEYS: tuple[str, ...] = ("connection", "version", "streamers", "restart_required", "health")

_NOT_SLUG = re.compile(r"[^a-z0-9_]+")


def _slug(text: str) -> str:
    """[a-z0-9_] only; a lossy mapping gets a short hash so ``a.b`` and ``a_b`` stay apart."""
    slug = _NOT_SLUG.sub("_", text.lower()).strip("_") or "x"
    if slug != text:
        slug += "_" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]
    return slug


def _pretty(text: str) -> str:
    """[a-z0-9_] without the hash: for object ids, where HA itself resolves clashes (_2)."""
    return _NOT_SLUG.sub("_", text.lower()).strip("_") or "x"


@dataclass(frozen=True, slots=True)
class Ids:
    """Discovery ids of one bridge instance (one base topic).

    A second bridge on another base topic watching the same streamer must get other
    unique ids, or HA would refuse its entities; like z2m, the base topic is appended when
    it is not the default.
    """

    base_topic: str

    @property
    def instance(self) -> str:
        return "" if self.base_topic == DEFAULT_BASE_TOPIC else _slug(self.base_topic)

    def _suffix(self) -> str:
        return f"_{self.instance}" if self.instance else ""

    def streamer_device(self, user: str) -> str:
        return f"tiktok_{_slug(user)}{self._suffix()}"

    @property
    def bridge_device(self) -> str:
        return f"tiktok2mqtt_bridge{self._suffix()}"

    def unique_id(self, device_id: str, key: str) -> str:
        # device_id already ends with the instance; the key goes before it (z2m: id_key_base).
        suffix = self._suffix()
        stem = device_id[: len(device_id) - len(suffix)] if suffix else device_id
        return f"{stem}_{key}{suffix}"

    def object_id(self, owner: str, key: str) -> str:
        """Readable entity id part: ``tiktok_demo_streamer_live`` (no hash, HA dedupes)."""
        instance = f"_{_pretty(self.base_topic)}" if self.instance else ""
        return f"{owner}{instance}_{key}"

    def streamer_object_owner(self, user: str) -> str:
        return f"tiktok_{_pretty(user)}"


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One HA device: its id, device block, options shared by its components, components."""

    device_id: str
    device: dict[str, Any]
    shared: dict[str, Any]
    components: dict[str, dict[str, Any]]  # key → component config incl. "platform"


def origin(version: str) -> dict[str, str]:
    # No support URL: the project has no public home yet, and a made-up one would mislead.
    return {"name": ORIGIN_NAME, "sw": version}


def _entity(
    ids: Ids, device_id: str, owner: str, key: str, platform: str, name: str, **options: Any
) -> dict[str, Any]:
    object_id = ids.object_id(owner, key)
    return {
        "platform": platform,
        "name": name,
        "unique_id": ids.unique_id(device_id, key),
        # object_id fixes the entity id on HA < 2025.10; default_entity_id replaces it later
        # (z2m sets both). Older HA drops the unknown key.
        "object_id": object_id,
        "default_entity_id": f"{platform}.{object_id}",
        **options,
    }


def _availability(*topics: str) -> list[dict[str, str]]:
    return [
        {"topic": t, "payload_available": "online", "payload_not_available": "offline"}
        for t in topics
    ]


def _state_sensor(field_name: str, unit: str, icon: str) -> dict[str, Any]:
    """A per-stream counter read from the retained state JSON."""
    return {
        "state_class": "total_increasing",
        "unit_of_measurement": unit,
        "icon": icon,
        "value_template": f"{{{{ value_json.{field_name} }}}}",
    }


def streamer_device(
    topics: Topics, settings: StreamerSettings, ha: HomeAssistantSettings
) -> DeviceConfig:
    """The device of one watched streamer (from its configuration only)."""
    ids = Ids(topics.base)
    st = topics.streamer(settings.user)
    device_id = ids.streamer_device(settings.user)
    owner = ids.streamer_object_owner(settings.user)

    def entity(key: str, platform: str, name: str, **options: Any) -> dict[str, Any]:
        return _entity(ids, device_id, owner, key, platform, name, **options)

    counters = {
        "likes": ("likes", "Likes this stream", "likes", "mdi:heart"),
        "diamonds": ("diamonds", "Diamonds this stream", "diamonds", "mdi:diamond-stone"),
        "follows": ("follows", "Follows this stream", "follows", "mdi:account-plus"),
        "shares": ("shares", "Shares this stream", "shares", "mdi:share-variant"),
    }
    components: dict[str, dict[str, Any]] = {
        "live": entity(
            "live", "binary_sensor", "Live", device_class="running", state_topic=st.live,
            payload_on="ON", payload_off="OFF",
            # Per-stream facts for automations ("{{ state_attr(..., 'title') }}").
            json_attributes_topic=st.state,
            json_attributes_template="{{ {'title': value_json.title, 'room_id': "
            "value_json.room_id, 'live_since': value_json.live_since} | tojson }}",
        ),
        "viewers": entity(
            "viewers", "sensor", "Viewers", state_class="measurement",
            unit_of_measurement="viewers", icon="mdi:eye", state_topic=st.viewers,
        ),
    }  # fmt: skip
    for key, (json_field, name, unit, icon) in counters.items():
        options = _state_sensor(json_field, unit, icon)
        components[key] = entity(key, "sensor", name, state_topic=st.state, **options)
    components.update(_event_entities(entity, st.event, settings, ha))
    if settings.chat_send.enabled:
        components["send_message"] = entity(
            "send_message", "notify", "Send chat", command_topic=st.chat_send, qos=1,
            icon="mdi:message-arrow-right",
        )  # fmt: skip
    components["watching"] = entity(
        "watching", "switch", "Watching", entity_category="config", command_topic=st.watch_set,
        state_topic=st.watch_state, payload_on="ON", payload_off="OFF", qos=1, icon="mdi:eye-check",
    )  # fmt: skip
    components["reconnect"] = entity(
        "reconnect", "button", "Reconnect", entity_category="diagnostic",
        command_topic=st.reconnect, payload_press="PRESS", qos=1,
        # Usable exactly when the streamer is unavailable (blocked, not_found…): after fixing
        # what the Status sensor's reason names, retry now instead of after the back-off.
        availability=_availability(topics.bridge_state),
    )  # fmt: skip
    components.update(_goal_entities(entity, st))
    if settings.leaderboard_size > 0:
        components.update(_leaderboard_entities(entity, st))
    components["status"] = entity(
        "status", "sensor", "Status", entity_category="diagnostic", icon="mdi:connection",
        state_topic=st.state, value_template="{{ value_json.status }}",
        # The human-readable reason ("cannot reach TikTok: name resolution failed") and the
        # end of a rate limit, as attributes of the status.
        json_attributes_topic=st.state,
        json_attributes_template="{{ {'reason': value_json.get('reason'), "
        "'retry_at': value_json.get('retry_at')} | tojson }}",
        # Only the bridge: the status must stay readable exactly when the streamer is
        # unavailable (not_found, blocked…), it is the answer to "why?".
        availability=_availability(topics.bridge_state),
    )  # fmt: skip
    device = {
        "identifiers": [device_id],
        "name": settings.name or f"TikTok @{settings.user}",
        "manufacturer": "TikTok",
        "model": "LIVE streamer",
        "configuration_url": f"https://www.tiktok.com/@{settings.user}/live",
        "via_device": _bridge_device_id(topics),
    }
    shared = {
        "availability": _availability(topics.bridge_state, st.availability),
        "availability_mode": "all",
    }
    return DeviceConfig(device_id, device, shared, components)


def _event_entities(
    entity: Callable[..., dict[str, Any]],
    event_topic: Callable[[str], str],
    settings: StreamerSettings,
    ha: HomeAssistantSettings,
) -> dict[str, dict[str, Any]]:
    """Event entities of the enabled event topics; gifts use the configured tier names."""
    out: dict[str, dict[str, Any]] = {}
    for topic in EVENT_ENTITIES:
        if topic not in settings.events:
            continue  # an entity that can never fire would only confuse
        options: dict[str, Any] = {
            "event_types": _event_types(topic, settings),
            "state_topic": event_topic(topic),
        }
        if topic == "chat":
            options["enabled_by_default"] = ha.chat_event_enabled_by_default
        out[topic] = entity(topic, "event", topic.replace("_", " ").capitalize(), **options)
    return out


def _goal_entities(
    entity: Callable[..., dict[str, Any]], st: StreamerTopics
) -> dict[str, dict[str, Any]]:
    """Per goal a number (the target; 0 = none) and a progress sensor (percent, with the
    goal JSON as attributes); one event entity that fires when a goal is reached."""
    out: dict[str, dict[str, Any]] = {}
    for goal, (number, progress, name, icon) in GOAL_ENTITIES.items():
        out[number] = entity(
            number,
            "number",
            name,
            entity_category="config",
            icon=icon,
            state_topic=st.goals,
            value_template=f"{{{{ value_json.{goal}.target }}}}",
            command_topic=st.goals_set,
            command_template=f'{{"{goal}": {{{{ value | int }}}}}}',
            min=0,
            max=GOAL_MAX,
            step=1,
            mode="box",
            qos=1,
        )
        out[progress] = entity(
            progress,
            "sensor",
            f"{name} progress",
            icon="mdi:progress-check",
            state_class="measurement",
            unit_of_measurement="%",
            state_topic=st.goals,
            # "None" (no target) is HA's unknown
            value_template=f"{{{{ value_json.{goal}.percent }}}}",
            json_attributes_topic=st.goals,
            json_attributes_template=f"{{{{ value_json.{goal} | tojson }}}}",
        )
    out["goal_reached"] = entity(
        "goal_reached",
        "event",
        "Goal reached",
        icon="mdi:flag-checkered",
        event_types=list(GOAL_ENTITIES),
        state_topic=st.goal_event,
    )
    out["reset_goals"] = entity(
        "reset_goals",
        "button",
        "Reset goals",
        entity_category="config",
        icon="mdi:restart",
        command_topic=st.goals_reset,
        payload_press="all",
        qos=1,
    )
    return out


def _leaderboard_entities(
    entity: Callable[..., dict[str, Any]], st: StreamerTopics
) -> dict[str, dict[str, Any]]:
    """The top gifter as the state (cut: a state holds at most 255 characters), the whole
    board (room_id, top) as attributes."""
    return {
        "top_gifters": entity(
            "top_gifters", "sensor", "Top gifters", icon="mdi:podium-gold",
            state_topic=st.leaderboard,
            value_template="{{ value_json.top[0].nickname[:100] if value_json.top else None }}",
            json_attributes_topic=st.leaderboard,
        ),
        "reset_leaderboard": entity(
            "reset_leaderboard", "button", "Reset top gifters", entity_category="config",
            icon="mdi:restart", command_topic=st.leaderboard_reset, payload_press="PRESS", qos=1,
        ),
    }  # fmt: skip


def _event_types(topic: str, settings: StreamerSettings) -> list[str]:
    """HA needs the fixed list of values ``event_type`` can take on this topic."""
    if topic != "gift":
        return [topic]
    # gift_tier() falls back to "gift" when no tier is configured.
    return list(dict.fromkeys(t.name for t in settings.gift_tiers)) or ["gift"]


def _bridge_device_id(topics: Topics) -> str:
    """The bridge's device; one per instance in a cluster (a streamer's device hangs off
    the instance that watches it)."""
    ids = Ids(topics.base)
    if not topics.instance:
        return ids.bridge_device
    base = ids.bridge_device
    suffix = f"_{ids.instance}" if ids.instance else ""
    stem = base[: len(base) - len(suffix)] if suffix else base
    return f"{stem}_{_pretty(topics.instance)}{suffix}"


def bridge_device(topics: Topics, version: str) -> DeviceConfig:
    """The daemon itself: connection state, version, watched streamers, a health button."""
    ids = Ids(topics.base)
    device_id = _bridge_device_id(topics)
    # In a cluster every instance is a device of its own (its own state, info and health).
    node = f"_{_pretty(topics.instance)}" if topics.instance else ""
    owner = f"tiktok2mqtt_bridge{node}"
    bridge_only = _availability(topics.bridge_state)

    def entity(key: str, platform: str, name: str, **options: Any) -> dict[str, Any]:
        return _entity(ids, device_id, owner, key, platform, name, **options)

    components = {
        # No availability: "offline" must show as off, not as unavailable (z2m does the same).
        "connection": entity(
            "connection", "binary_sensor", "Connection state", device_class="connectivity",
            entity_category="diagnostic", state_topic=topics.bridge_state,
            payload_on="online", payload_off="offline",
        ),
        "version": entity(
            "version", "sensor", "Version", entity_category="diagnostic", icon="mdi:tag",
            state_topic=topics.bridge_info, value_template="{{ value_json.version }}",
            availability=bridge_only,
        ),
        "streamers": entity(
            "streamers", "sensor", "Streamers watched", state_class="measurement",
            icon="mdi:account-multiple", state_topic=topics.bridge_info,
            value_template="{{ value_json.streamers | count }}",
            json_attributes_topic=topics.bridge_info,
            json_attributes_template="{{ {'streamers': value_json.streamers} | tojson }}",
            availability=bridge_only,
        ),
        "restart_required": entity(
            "restart_required", "binary_sensor", "Restart required", device_class="problem",
            entity_category="diagnostic", state_topic=topics.bridge_info,
            value_template="{{ 'ON' if value_json.restart_required else 'OFF' }}",
            availability=bridge_only,
        ),
        "health": entity(
            "health", "button", "Health check", entity_category="diagnostic",
            command_topic=topics.request("health_check"), payload_press="{}",
            icon="mdi:heart-pulse", availability=bridge_only,
        ),
    }  # fmt: skip
    device = {
        "identifiers": [device_id],
        "name": "tiktok2mqtt bridge"
        + (f" {topics.instance}" if topics.instance else "")
        + (f" ({topics.base})" if ids.instance else ""),
        "manufacturer": "tiktok2mqtt",
        "model": "Bridge",
        "sw_version": version,
    }
    return DeviceConfig(device_id, device, {}, components)


def discovery_messages(
    prefix: str, config: DeviceConfig, version: str, *, legacy: bool = False
) -> dict[str, dict[str, Any]]:
    """topic → retained payload. Device-based: one message; legacy: one per component."""
    if not legacy:
        cmps = {key: _with_p(comp) for key, comp in config.components.items()}
        payload = {"dev": config.device, "o": origin(version), **config.shared, "cmps": cmps}
        return {check_topic(f"{prefix}/device/{config.device_id}/config"): payload}
    out: dict[str, dict[str, Any]] = {}
    for key, comp in config.components.items():
        body = {k: v for k, v in comp.items() if k != "platform"}
        for option, value in config.shared.items():
            # Same rule as HA's device-based discovery: the component's own option wins.
            if not ("availability" in option and "availability" in body):
                body.setdefault(option, value)
        body["device"] = config.device
        body["origin"] = origin(version)
        topic = legacy_topic(prefix, comp["platform"], config.device_id, key)
        out[topic] = body
    return out


def _with_p(component: Mapping[str, Any]) -> dict[str, Any]:
    """Device-based discovery names the platform ``p`` (the abbreviation HA documents)."""
    return {"p": component["platform"], **{k: v for k, v in component.items() if k != "platform"}}


def legacy_topic(prefix: str, platform: str, device_id: str, key: str) -> str:
    return check_topic(f"{prefix}/{platform}/{device_id}/{key}/config")


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def is_owned(payload: bytes, bridge_state_topic: str) -> bool:
    """A retained discovery config published by a tiktok2mqtt with *our* base topic.

    Origin name alone is not enough: another bridge instance (another base topic) shares it
    and its devices must survive. Every config we publish mentions our ``bridge/state``
    (availability, or the connection sensor's state topic).
    """
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(data, dict):
        return False
    origin_block = data.get("o", data.get("origin"))
    if not isinstance(origin_block, Mapping) or origin_block.get("name") != ORIGIN_NAME:
        return False
    return bridge_state_topic in set(_strings(data))


class DiscoverySink(Protocol):
    """The part of MqttSink used here (retained publishes and subscriptions)."""

    def set_state(self, topic: str, payload: Any, *, qos: int = 1) -> None: ...

    def clear_state(self, topic: str) -> None: ...

    def forget(self, topic: str) -> None: ...

    def subscribe(self, topic_filter: str, *, qos: int = 1) -> None: ...

    async def collect_retained(
        self, filters: Iterable[str], duration_s: float
    ) -> dict[str, bytes]: ...


@dataclass
class _Announced:
    """What this process published for one device: topic → payload, and component platforms."""

    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    platforms: dict[str, str] = field(default_factory=dict)


class DiscoveryPublisher:
    """Announces, re-announces and removes discovery configs through the sink.

    The core calls ``start()`` once, ``announce_streamer``/``remove_streamer`` as streamers
    come and go, ``on_connected()`` from the sink's hook and ``on_ha_status`` for messages on
    ``status_topic``. ``republish`` is the core's "send every current state again".
    """

    def __init__(
        self,
        sink: DiscoverySink,
        topics: Topics,
        ha: HomeAssistantSettings,
        *,
        version: str,
        scan_stale: bool = False,
        republish: Callable[[], None] | None = None,
        scan_s: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        self.sink = sink
        self.topics = topics
        self.ha = ha
        self.version = version
        self.ids = Ids(topics.base)
        self._scan_stale = scan_stale
        self._republish = republish
        self._scan_s = scan_s
        self._rng = rng or random.Random()
        self._devices: dict[str, _Announced] = {}  # device id → what we published
        self._birth_task: asyncio.Task[None] | None = None
        self._scan_task: asyncio.Task[None] | None = None
        self._scanned = False
        self.stale_cleared: list[str] = []  # topics cleared by the stale scan (for tests/logs)

    @property
    def status_topic(self) -> str:
        return self.ha.status_topic

    # ---------------------------------------------------------------- announce / remove

    def start(self, streamers: Iterable[StreamerSettings] = ()) -> None:
        """Subscribe to HA's birth topic; announce the bridge (and `streamers`, if given)."""
        self.sink.subscribe(self.ha.status_topic, qos=1)
        self.announce_all(streamers)

    def announce_all(self, streamers: Iterable[StreamerSettings] = ()) -> None:
        self._announce(bridge_device(self.topics, self.version))
        for settings in streamers:
            self.announce_streamer(settings)

    def announce_streamer(self, settings: StreamerSettings) -> None:
        """(Re-)announce one streamer's device; call again when its settings changed."""
        self._announce(streamer_device(self.topics, settings, self.ha))

    def remove_streamer(self, user: str) -> None:
        """Remove the streamer's device from HA: empty retained payload on its topic(s)."""
        device_id = self.ids.streamer_device(user)
        announced = self._devices.pop(device_id, None)
        topics = set(announced.messages) if announced else set()
        if self.ha.legacy_component_discovery:
            # Also what an earlier run may have announced (e.g. chat_send since disabled).
            topics |= {self._legacy(device_id, key) for key in STREAMER_KEYS}
        else:
            topics.add(self._device_topic(device_id))
        for topic in sorted(topics):
            self.sink.clear_state(topic)
        log.info("Home Assistant: removed device %s", device_id)

    def forget_streamer(self, user: str) -> None:
        """Stop keeping the streamer's device, without removing it from HA: another instance
        announces it now (docs/cluster.md). Neither a reconnect nor an HA birth re-sends it."""
        announced = self._devices.pop(self.ids.streamer_device(user), None)
        for topic in announced.messages if announced is not None else ():
            self.sink.forget(topic)

    def _announce(self, config: DeviceConfig) -> None:
        legacy = self.ha.legacy_component_discovery
        prefix = self.ha.discovery_topic
        messages = discovery_messages(prefix, config, self.version, legacy=legacy)
        previous = self._devices.get(config.device_id, _Announced())
        platforms = {key: comp["platform"] for key, comp in config.components.items()}
        dropped = {k: p for k, p in previous.platforms.items() if k not in platforms}
        if legacy:
            for key, platform in dropped.items():
                self.sink.clear_state(legacy_topic(prefix, platform, config.device_id, key))
        elif dropped:
            # HA drops a component of a device only when told: send it with just "p".
            (payload,) = messages.values()
            payload["cmps"].update({key: {"p": p} for key, p in dropped.items()})
        self._devices[config.device_id] = _Announced(messages, platforms)
        self._publish(messages)

    def _publish(self, messages: Mapping[str, Mapping[str, Any]]) -> None:
        for topic, payload in messages.items():
            self.sink.set_state(topic, payload, qos=1)

    def _device_topic(self, device_id: str) -> str:
        return check_topic(f"{self.ha.discovery_topic}/device/{device_id}/config")

    def _legacy(self, device_id: str, key: str) -> str:
        platform = _STREAMER_PLATFORMS[key]
        return legacy_topic(self.ha.discovery_topic, platform, device_id, key)

    @property
    def announced_topics(self) -> set[str]:
        return {topic for dev in self._devices.values() for topic in dev.messages}

    # ---------------------------------------------------------------- Home Assistant birth

    def handles(self, topic: str) -> bool:
        return topic == self.ha.status_topic

    def on_ha_status(self, payload: bytes) -> None:
        """HA (re)started: after a short random delay, re-announce and re-publish states.

        The delay spreads the load when HA's birth reaches many integrations at once (HA's
        own advice); several births in a row collapse into one re-announce.
        """
        if payload.strip().lower() != b"online":
            return
        if self._birth_task is not None and not self._birth_task.done():
            return
        upper = max(self.ha.rediscover_delay_s, 0.0)
        delay = self._rng.uniform(min(0.5, upper), upper)
        log.info("Home Assistant is online: re-announcing discovery in %.1f s", delay)
        self._birth_task = asyncio.create_task(self._reannounce(delay), name="ha-rediscover")

    async def _reannounce(self, delay: float) -> None:
        await asyncio.sleep(delay)
        for announced in self._devices.values():
            self._publish(announced.messages)
        if self._republish is not None:
            self._republish()

    # ---------------------------------------------------------------- stale cleanup

    def on_connected(self) -> None:
        """Sink hook: the first successful connection starts the one-off stale scan."""
        if self._scanned or not self._scan_stale:
            return
        if self._scan_task is None or self._scan_task.done():
            self._scan_task = asyncio.create_task(self._scan(), name="ha-stale-scan")

    async def _scan(self) -> None:
        # On the sink's own connection: a second one under the same MQTT user would kick
        # it off a broker that binds client ids to users (docs/security.md).
        prefix = self.ha.discovery_topic
        filters = (f"{prefix}/device/+/config", f"{prefix}/+/+/+/config")
        found = await self.sink.collect_retained(filters, self._scan_s)
        self._scanned = True
        self.clear_stale(found)

    def clear_stale(self, retained: Mapping[str, bytes]) -> list[str]:
        """Clear retained configs of this bridge instance that are no longer announced."""
        current = self.announced_topics
        state_topic = self.topics.bridge_state
        stale = sorted(
            topic
            for topic, payload in retained.items()
            if payload and topic not in current and is_owned(payload, state_topic)
        )
        for topic in stale:
            log.info("Home Assistant: clearing stale discovery config %s", topic)
            self.sink.clear_state(topic)
        if stale:
            # A cleared legacy config and its device-based successor share unique ids; HA
            # may have refused the new one while the old existed, so announce again.
            for announced in self._devices.values():
                self._publish(announced.messages)
        self.stale_cleared.extend(stale)
        return stale

    async def close(self) -> None:
        for task in (self._birth_task, self._scan_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


_STREAMER_PLATFORMS: dict[str, str] = {
    "live": "binary_sensor",
    "viewers": "sensor",
    "likes": "sensor",
    "diamonds": "sensor",
    "follows": "sensor",
    "shares": "sensor",
    **dict.fromkeys(EVENT_ENTITIES, "event"),
    "send_message": "notify",
    "watching": "switch",
    "reconnect": "button",
    "status": "sensor",
    **{number: "number" for number, _, _, _ in GOAL_ENTITIES.values()},
    **{progress: "sensor" for _, progress, _, _ in GOAL_ENTITIES.values()},
    "goal_reached": "event",
    "reset_goals": "button",
    "top_gifters": "sensor",
    "reset_leaderboard": "button",
}
