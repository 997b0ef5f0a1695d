"""examples/node-red/tiktok-flow.json is an importable flow that uses only documented topics."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bridge.mqtt.topics import Topics, check_filter
from bridge.settings.streamer import ALL_EVENTS
from tests.helpers.paths import REPO

FLOW = REPO / "examples" / "node-red" / "tiktok-flow.json"
MQTT_API = REPO / "docs" / "mqtt-api.md"
BASE, USER = "tiktok", "demo_streamer"
CONFIG_NODES = {"tab", "mqtt-broker"}  # no wires, no x/y
MQTT_NODES = {"mqtt in", "mqtt out"}


@pytest.fixture(scope="module")
def flow() -> list[dict[str, Any]]:
    data = json.loads(FLOW.read_text())
    assert isinstance(data, list) and data, "a flow export is a non-empty JSON list"
    return data


def builder_topics() -> set[str]:
    """Every topic bridge.mqtt.topics builds for one streamer, plus the bridge's own."""
    topics = Topics(BASE)
    st = topics.streamer(USER)
    found = {st.availability, st.live, st.viewers, st.state, st.watch_state, st.gift_progress}
    found |= {st.watch_set, st.chat_send, st.reconnect}
    found |= {st.event(event) for event in ALL_EVENTS}
    found |= {topics.bridge_state, topics.bridge_info, topics.bridge_health}
    found |= {topics.bridge_event, topics.bridge_logging}
    for command in ("health_check", "chat/send", "simulate", "streamer/add", "streamer/remove"):
        found |= {topics.request(command), topics.response(command)}
    return found


def documented_patterns() -> list[re.Pattern[str]]:
    """Topic patterns of the tables in docs/mqtt-api.md, as regular expressions."""
    patterns = []
    for raw in re.findall(r"^\| `(<base>/[^`]+)`", MQTT_API.read_text(), flags=re.MULTILINE):
        regex = re.escape(raw)
        regex = regex.replace(re.escape("<base>"), re.escape(BASE))
        regex = regex.replace(re.escape("<user>"), r"[a-z0-9._-]+")
        regex = regex.replace(re.escape("<event>"), "(?:" + "|".join(ALL_EVENTS) + ")")
        regex = regex.replace(re.escape("<cmd>"), r"[a-z0-9_]+(?:/[a-z0-9_]+)*")
        patterns.append(re.compile(regex))
    return patterns


def test_flow_is_a_valid_node_red_export(flow: list[dict[str, Any]]) -> None:
    ids = [node["id"] for node in flow]
    assert len(ids) == len(set(ids)), "node ids must be unique"
    tabs = {node["id"] for node in flow if node["type"] == "tab"}
    assert tabs, "the flow should come with its own tab"
    for node in flow:
        assert isinstance(node.get("id"), str) and isinstance(node.get("type"), str)
        if node["type"] in CONFIG_NODES:
            continue
        assert node.get("z") in tabs, f"{node['id']} is not on the flow's tab"
        assert isinstance(node.get("wires"), list), f"{node['id']} has no wires"
        for output in node["wires"]:
            for target in output:
                assert target in ids, f"{node['id']} is wired to missing node {target}"


def test_every_mqtt_node_uses_the_broker_node(flow: list[dict[str, Any]]) -> None:
    brokers = {node["id"] for node in flow if node["type"] == "mqtt-broker"}
    assert len(brokers) == 1
    mqtt = [node for node in flow if node["type"] in MQTT_NODES]
    assert {node["type"] for node in mqtt} == MQTT_NODES
    assert all(node["broker"] in brokers for node in mqtt)


def test_bridge_topics_are_built_by_topics_and_documented(flow: list[dict[str, Any]]) -> None:
    built = builder_topics()
    patterns = documented_patterns() if MQTT_API.exists() else []
    ours = []
    for node in flow:
        if node["type"] not in MQTT_NODES:
            continue
        topic = node["topic"]
        check_filter(topic)
        if not topic.startswith(f"{BASE}/"):
            # A device's own topic (the lamp, the plug): not ours to document.
            assert node["type"] == "mqtt out", f"{node['id']} subscribes outside {BASE}/"
            continue
        ours.append(topic)
        assert topic in built, f"{node['id']}: {topic} is not a topic the bridge uses"
        if patterns:
            assert any(p.fullmatch(topic) for p in patterns), f"{topic} not in docs/mqtt-api.md"
    # The flow demonstrates gifts, chat commands, the live state and sending chat.
    assert {f"{BASE}/{USER}/{t}" for t in ("gift", "chat", "live", "chat/send")} <= set(ours)


def test_subscriptions_to_json_events_parse_json(flow: list[dict[str, Any]]) -> None:
    for node in flow:
        if node["type"] == "mqtt in" and node["topic"].endswith(("/gift", "/chat")):
            assert node["datatype"] == "json", f"{node['id']} should parse the event JSON"
        if node["type"] == "mqtt in" and node["topic"].endswith("/live"):
            assert node["datatype"] == "utf8"  # plain ON/OFF
