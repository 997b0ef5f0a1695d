"""Home Assistant discovery: payload builders (pure) and the publisher against real mosquitto."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from bridge import __version__
from bridge.mqtt.discovery import (
    BRIDGE_KEYS,
    GOAL_ENTITIES,
    ORIGIN_NAME,
    STREAMER_KEYS,
    DiscoveryPublisher,
    Ids,
    bridge_device,
    discovery_messages,
    is_owned,
    streamer_device,
)
from bridge.mqtt.topics import Topics
from bridge.settings.mqtt import HomeAssistantSettings
from bridge.settings.streamer import (
    GOAL_MAX,
    GOALS,
    ChatSendSettings,
    GiftTier,
    StreamerSettings,
)
from tests.helpers.mosquitto import Mosquitto, MqttRecorder
from tests.mqtt.conftest import MakeSink, settings_for

HA = HomeAssistantSettings()
TOPICS = Topics("tiktok")
SLUG = re.compile(r"[a-z0-9_]+")
DISCOVERY_ID = re.compile(r"[a-zA-Z0-9_-]+")


def device_payload(settings: StreamerSettings, ha: HomeAssistantSettings = HA) -> dict[str, Any]:
    config = streamer_device(TOPICS, settings, ha)
    (payload,) = discovery_messages(ha.discovery_topic, config, "1.2.3").values()
    return payload


# ---------------------------------------------------------------- builders


def test_streamer_device_payload_has_every_entity_with_the_documented_options() -> None:
    payload = device_payload(StreamerSettings("demo_streamer"))
    assert payload["o"] == {"name": ORIGIN_NAME, "sw": "1.2.3"}
    assert payload["dev"]["identifiers"] == ["tiktok_demo_streamer"]
    assert payload["dev"]["via_device"] == "tiktok2mqtt_bridge"
    assert [a["topic"] for a in payload["availability"]] == [
        "tiktok/bridge/state",
        "tiktok/demo_streamer/availability",
    ]
    assert payload["availability_mode"] == "all"
    cmps = payload["cmps"]
    platforms = {key: c["p"] for key, c in cmps.items()}
    assert platforms == {
        "live": "binary_sensor", "viewers": "sensor", "likes": "sensor", "diamonds": "sensor",
        "follows": "sensor", "shares": "sensor", "gift": "event", "follow": "event",
        "share": "event", "subscribe": "event", "super_fan": "event", "chat": "event",
        "watching": "switch",
        "reconnect": "button", "status": "sensor",
        "like_goal": "number", "diamond_goal": "number", "follower_goal": "number",
        "like_progress": "sensor", "diamond_progress": "sensor", "follower_progress": "sensor",
        "goal_reached": "event", "reset_goals": "button", "top_gifters": "sensor",
        "reset_leaderboard": "button",
    }  # fmt: skip
    assert cmps["live"]["device_class"] == "running"
    assert (cmps["live"]["payload_on"], cmps["live"]["payload_off"]) == ("ON", "OFF")
    assert cmps["viewers"]["state_class"] == "measurement"
    for key in ("likes", "diamonds", "follows", "shares"):
        assert cmps[key]["state_class"] == "total_increasing"
        assert cmps[key]["state_topic"] == "tiktok/demo_streamer/state"
        assert cmps[key]["value_template"] == f"{{{{ value_json.{key} }}}}"
    assert cmps["gift"]["event_types"] == ["gift_small", "gift_medium", "gift_large"]
    assert cmps["gift"]["state_topic"] == "tiktok/demo_streamer/gift"
    assert cmps["chat"]["enabled_by_default"] is False
    assert cmps["watching"]["command_topic"] == "tiktok/demo_streamer/watch/set"
    assert cmps["watching"]["state_topic"] == "tiktok/demo_streamer/watch/state"
    assert cmps["watching"]["entity_category"] == "config"
    assert cmps["reconnect"]["entity_category"] == "diagnostic"
    # The status must stay readable while the streamer itself is unavailable.
    assert [a["topic"] for a in cmps["status"]["availability"]] == ["tiktok/bridge/state"]
    assert "send_message" not in cmps  # chat sending is off by default


def test_goal_and_leaderboard_entities_read_and_command_the_goal_topics() -> None:
    cmps = device_payload(StreamerSettings("demo_streamer"))["cmps"]
    assert set(GOAL_ENTITIES) == set(GOALS)  # one number and one sensor per goal
    for goal, (number, progress, _, _) in GOAL_ENTITIES.items():
        target = cmps[number]
        assert target["state_topic"] == "tiktok/demo_streamer/goals"
        assert target["value_template"] == f"{{{{ value_json.{goal}.target }}}}"
        assert target["command_topic"] == "tiktok/demo_streamer/goals/set"
        # HA renders the template with the number; the bridge reads {"likes": 1000}.
        rendered = target["command_template"].replace("{{ value | int }}", "1000")
        assert json.loads(rendered) == {goal: 1000}
        assert (target["min"], target["max"], target["step"]) == (0, GOAL_MAX, 1)
        assert target["entity_category"] == "config"
        sensor = cmps[progress]
        assert sensor["unit_of_measurement"] == "%"
        assert sensor["value_template"] == f"{{{{ value_json.{goal}.percent }}}}"
        assert sensor["json_attributes_topic"] == "tiktok/demo_streamer/goals"
    assert cmps["goal_reached"]["event_types"] == ["likes", "diamonds", "follows"]
    assert cmps["goal_reached"]["state_topic"] == "tiktok/demo_streamer/goal"
    assert cmps["reset_goals"]["command_topic"] == "tiktok/demo_streamer/goals/reset"
    assert cmps["top_gifters"]["state_topic"] == "tiktok/demo_streamer/leaderboard"
    assert cmps["top_gifters"]["json_attributes_topic"] == "tiktok/demo_streamer/leaderboard"
    assert cmps["reset_leaderboard"]["command_topic"] == "tiktok/demo_streamer/leaderboard/reset"
    # No leaderboard configured: no entities for it.
    off = device_payload(StreamerSettings("demo_streamer", leaderboard_size=0))["cmps"]
    assert "top_gifters" not in off and "reset_leaderboard" not in off
    assert "like_goal" in off


def test_gift_event_types_follow_the_configured_tiers_and_chat_send_adds_notify() -> None:
    tiers = (GiftTier("gift_tiny", 1), GiftTier("gift_huge", 5000))
    settings = StreamerSettings(
        "demo_streamer", gift_tiers=tiers, chat_send=ChatSendSettings(enabled=True)
    )
    cmps = device_payload(settings)["cmps"]
    assert cmps["gift"]["event_types"] == ["gift_tiny", "gift_huge"]
    assert cmps["send_message"]["p"] == "notify"
    assert cmps["send_message"]["command_topic"] == "tiktok/demo_streamer/chat/send"
    assert device_payload(StreamerSettings("x", gift_tiers=()))["cmps"]["gift"]["event_types"] == [
        "gift"
    ]


def test_event_entities_only_for_enabled_events_and_chat_enabled_by_option() -> None:
    ha = HomeAssistantSettings(chat_event_enabled_by_default=True)
    cmps = device_payload(StreamerSettings("demo", events=("gift", "chat")), ha)["cmps"]
    # goal_reached is the bridge's own event, not a TikTok event topic: always there
    assert {k for k, c in cmps.items() if c["p"] == "event"} == {"gift", "chat", "goal_reached"}
    assert cmps["chat"]["enabled_by_default"] is True


def test_ids_are_slugs_and_entity_ids_are_predictable() -> None:
    payloads = [device_payload(StreamerSettings("alice.live"))]
    bridge = bridge_device(TOPICS, "1.2.3")
    (bridge_payload,) = discovery_messages("homeassistant", bridge, "1.2.3").values()
    payloads.append(bridge_payload)
    for payload in payloads:
        assert DISCOVERY_ID.fullmatch(payload["dev"]["identifiers"][0])
        for comp in payload["cmps"].values():
            assert SLUG.fullmatch(comp["unique_id"])
            assert SLUG.fullmatch(comp["object_id"])
            assert comp["default_entity_id"] == f"{comp['p']}.{comp['object_id']}"
    cmps = device_payload(StreamerSettings("demo_streamer"))["cmps"]
    assert cmps["live"]["default_entity_id"] == "binary_sensor.tiktok_demo_streamer_live"
    assert cmps["gift"]["default_entity_id"] == "event.tiktok_demo_streamer_gift"


def test_unique_ids_never_collide_between_streamers_or_bridge_instances() -> None:
    def unique_ids(base: str, user: str) -> set[str]:
        config = streamer_device(Topics(base), StreamerSettings(user), HA)
        return {c["unique_id"] for c in config.components.values()}

    default = unique_ids("tiktok", "alice.live")
    assert Ids("tiktok").streamer_device("alice.live") != "tiktok_alice_live"  # hashed
    assert default.isdisjoint(unique_ids("tiktok", "alice_live"))  # "." and "_" stay apart
    assert default.isdisjoint(unique_ids("tiktok2", "alice.live"))  # another instance
    assert unique_ids("tiktok", "demo") == {f"tiktok_demo_{k}" for k in STREAMER_KEYS} - {
        "tiktok_demo_send_message"
    }
    assert Ids("tiktok2").bridge_device != Ids("tiktok").bridge_device
    assert unique_ids("tiktok", "a") == unique_ids("tiktok", "a")  # stable


@pytest.mark.parametrize("keys", [STREAMER_KEYS, BRIDGE_KEYS])
def test_no_component_key_ends_with_another_key(keys: tuple[str, ...]) -> None:
    # unique_id = tiktok_<user>_<key>[_<instance>]: "chat_send" + no instance would equal
    # "chat" + instance "send"; "x" + "send_chat" would equal user "x_send" + "chat".
    for key in keys:
        for other in keys:
            assert key == other or not key.endswith("_" + other)
            assert key == other or not key.startswith(other + "_")


def test_payload_comes_from_configuration_only() -> None:
    # Same configuration → byte-identical payload, whatever happens on the stream.
    settings = StreamerSettings("demo_streamer", name="Demo")
    first = json.dumps(device_payload(settings), sort_keys=True)
    assert first == json.dumps(device_payload(settings), sort_keys=True)
    assert device_payload(settings)["dev"]["name"] == "Demo"


def test_legacy_messages_one_topic_per_component_with_device_origin_availability() -> None:
    config = streamer_device(TOPICS, StreamerSettings("demo_streamer"), HA)
    messages = discovery_messages("homeassistant", config, "1.2.3", legacy=True)
    assert "homeassistant/binary_sensor/tiktok_demo_streamer/live/config" in messages
    assert "homeassistant/event/tiktok_demo_streamer/gift/config" in messages
    assert len(messages) == len(config.components)
    for body in messages.values():
        assert "platform" not in body and "p" not in body
        assert body["device"]["identifiers"] == ["tiktok_demo_streamer"]
        assert body["origin"]["name"] == ORIGIN_NAME
        assert body["availability"]
    status = messages["homeassistant/sensor/tiktok_demo_streamer/status/config"]
    assert [a["topic"] for a in status["availability"]] == ["tiktok/bridge/state"]


def test_is_owned_matches_origin_and_our_base_topic() -> None:
    config = streamer_device(TOPICS, StreamerSettings("demo_streamer"), HA)
    (ours,) = discovery_messages("homeassistant", config, "1").values()
    raw = json.dumps(ours).encode()
    assert is_owned(raw, "tiktok/bridge/state")
    assert not is_owned(raw, "tiktok2/bridge/state")  # another instance's device
    other = dict(ours, o={"name": "zigbee2mqtt"})
    assert not is_owned(json.dumps(other).encode(), "tiktok/bridge/state")
    assert not is_owned(b"not json", "tiktok/bridge/state")
    assert not is_owned(b"[1]", "tiktok/bridge/state")


# ---------------------------------------------------------------- publisher (real broker)

WAIT_S = 20.0


def _configs(rec: MqttRecorder, topic: str) -> list[bytes]:
    return [m.payload for m in rec.on(topic)]


async def test_announce_and_remove_device_retained_qos1(
    mosquitto: Mosquitto, make_sink: MakeSink, subscriber: Any
) -> None:
    h = await (await make_sink(settings_for(mosquitto))).connected()
    pub = DiscoveryPublisher(h.sink, TOPICS, HA, version=__version__)
    pub.start()
    pub.announce_streamer(StreamerSettings("demo_streamer"))
    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)
    rec = await subscriber(mosquitto, "homeassistant/#")
    device = await rec.wait_for("homeassistant/device/tiktok_demo_streamer/config")
    bridge = await rec.wait_for("homeassistant/device/tiktok2mqtt_bridge/config")
    assert device.retain and bridge.retain  # a late subscriber (HA) gets them
    assert device.qos == 1
    assert set(device.json()["cmps"]) >= {"live", "viewers", "gift", "watching"}

    pub.remove_streamer("demo_streamer")
    gone = await rec.wait_for(
        "homeassistant/device/tiktok_demo_streamer/config", lambda m: not m.payload
    )
    assert gone.payload == b""
    late = await subscriber(mosquitto, "homeassistant/#")
    await late.wait_for("homeassistant/device/tiktok2mqtt_bridge/config")
    assert late.on("homeassistant/device/tiktok_demo_streamer/config") == []  # nothing retained


async def test_legacy_mode_publishes_and_removes_each_component(
    mosquitto: Mosquitto, make_sink: MakeSink, subscriber: Any
) -> None:
    h = await (await make_sink(settings_for(mosquitto))).connected()
    ha = HomeAssistantSettings(legacy_component_discovery=True)
    pub = DiscoveryPublisher(h.sink, TOPICS, ha, version=__version__)
    rec = await subscriber(mosquitto, "homeassistant/#")
    pub.announce_streamer(StreamerSettings("demo_streamer"))
    live = "homeassistant/binary_sensor/tiktok_demo_streamer/live/config"
    assert (await rec.wait_for(live)).json()["unique_id"] == "tiktok_demo_streamer_live"
    assert rec.on("homeassistant/device/#") == []
    pub.remove_streamer("demo_streamer")
    await rec.wait_for(live, lambda m: not m.payload)
    gift = "homeassistant/event/tiktok_demo_streamer/gift/config"
    await rec.wait_for(gift, lambda m: not m.payload)


async def test_dropped_component_is_removed_with_platform_only(
    mosquitto: Mosquitto, make_sink: MakeSink, subscriber: Any
) -> None:
    h = await (await make_sink(settings_for(mosquitto))).connected()
    pub = DiscoveryPublisher(h.sink, TOPICS, HA, version=__version__)
    rec = await subscriber(mosquitto, "homeassistant/#")
    on = StreamerSettings("demo", chat_send=ChatSendSettings(enabled=True))
    pub.announce_streamer(on)
    topic = "homeassistant/device/tiktok_demo/config"
    await rec.wait_for(topic, lambda m: "send_message" in m.json()["cmps"])
    pub.announce_streamer(StreamerSettings("demo"))  # chat_send switched off by a reload
    msg = await rec.wait_for(topic, lambda m: m.json()["cmps"]["send_message"] == {"p": "notify"})
    assert msg.json()["cmps"]["live"]["p"] == "binary_sensor"


async def test_ha_birth_reannounces_and_asks_for_states(
    mosquitto: Mosquitto, make_sink: MakeSink, subscriber: Any
) -> None:
    h = await (await make_sink(settings_for(mosquitto))).connected()
    republished = asyncio.Event()
    ha = HomeAssistantSettings(rediscover_delay_s=0.1)
    pub = DiscoveryPublisher(h.sink, TOPICS, ha, version=__version__, republish=republished.set)
    pub.start()
    rec = await subscriber(mosquitto, "homeassistant/device/#")
    await rec.wait_for("homeassistant/device/tiktok2mqtt_bridge/config")
    rec.clear()
    pub.on_ha_status(b"offline")  # HA's will: nothing to do
    pub.on_ha_status(b"online")
    pub.on_ha_status(b"online")  # a second birth while one is pending collapses into it
    await asyncio.wait_for(republished.wait(), WAIT_S)
    msg = await rec.wait_for("homeassistant/device/tiktok2mqtt_bridge/config")
    assert msg.json()["o"]["name"] == ORIGIN_NAME
    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)
    assert len(rec.on("homeassistant/device/tiktok2mqtt_bridge/config")) == 1
    await pub.close()


async def test_a_forgotten_device_stays_but_is_not_announced_again(
    mosquitto: Mosquitto, make_sink: MakeSink, subscriber: Any
) -> None:
    # The streamer moved to another instance: its device is that instance's now.
    h = await (await make_sink(settings_for(mosquitto))).connected()
    republished = asyncio.Event()
    ha = HomeAssistantSettings(rediscover_delay_s=0.1)
    pub = DiscoveryPublisher(h.sink, TOPICS, ha, version=__version__, republish=republished.set)
    pub.announce_streamer(StreamerSettings("demo"))  # announced before the bridge device:
    pub.start()  # a re-announcement would send it first
    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)
    pub.forget_streamer("demo")
    rec = await subscriber(mosquitto, "homeassistant/device/#")
    device = "homeassistant/device/tiktok_demo/config"
    assert (await rec.wait_for(device)).retain  # still there: nothing was cleared
    await rec.wait_for("homeassistant/device/tiktok2mqtt_bridge/config")
    rec.clear()
    pub.on_ha_status(b"online")
    await asyncio.wait_for(republished.wait(), WAIT_S)
    await rec.wait_for("homeassistant/device/tiktok2mqtt_bridge/config")
    assert rec.on(device) == []
    assert device not in pub.announced_topics
    await pub.close()


async def test_stale_scan_clears_only_our_configs_of_unconfigured_streamers(
    mosquitto: Mosquitto, make_sink: MakeSink, subscriber: Any
) -> None:
    # A previous run announced "gone"; another instance (base tiktok2) and another program
    # have retained configs too. Only ours for "gone" may be cleared.
    seed = await (await make_sink(settings_for(mosquitto, client_id="seed"))).connected()
    old = DiscoveryPublisher(seed.sink, TOPICS, HA, version="0.0.1")
    old.announce_all([StreamerSettings("gone"), StreamerSettings("kept")])
    other = DiscoveryPublisher(seed.sink, Topics("tiktok2"), HA, version="0.0.1")
    other.announce_streamer(StreamerSettings("gone"))
    foreign = "homeassistant/sensor/z2m_dev/temperature/config"
    seed.sink.set_state(
        foreign, {"o": {"name": "Zigbee2MQTT"}, "state_topic": "tiktok/bridge/state"}
    )
    legacy_old = "homeassistant/sensor/tiktok_gone/viewers/config"
    legacy_payload = discovery_messages(
        "homeassistant",
        streamer_device(TOPICS, StreamerSettings("gone"), HA),
        "0.0.1",
        legacy=True,
    )[legacy_old]
    seed.sink.set_state(legacy_old, legacy_payload)
    await asyncio.wait_for(seed.sink.wait_idle(), WAIT_S)
    await seed.sink.close()

    settings = settings_for(mosquitto)
    h = await (await make_sink(settings)).connected()
    pub = DiscoveryPublisher(h.sink, TOPICS, HA, version=__version__, scan_stale=True, scan_s=1)
    pub.start([StreamerSettings("kept")])
    pub.on_connected()
    assert pub._scan_task is not None
    await asyncio.wait_for(pub._scan_task, WAIT_S)
    assert pub.stale_cleared == ["homeassistant/device/tiktok_gone/config", legacy_old]
    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)

    rec = await subscriber(mosquitto, "homeassistant/#")
    await rec.wait_for("homeassistant/device/tiktok_kept/config")
    await rec.wait_for("homeassistant/device/tiktok_gone_tiktok2/config")  # other instance
    await rec.wait_for(foreign)
    assert rec.on("homeassistant/device/tiktok_gone/config") == []
    assert rec.on(legacy_old) == []
    pub.on_connected()  # scanned once per process: no second scan
    assert pub._scan_task.done()
