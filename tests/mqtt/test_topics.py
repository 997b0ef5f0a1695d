"""The topic guard and the Topics builder: no topic level ever comes from live data."""

from __future__ import annotations

import pytest

from bridge.mqtt.payloads import encode_json, to_bytes
from bridge.mqtt.topics import TopicError, Topics, check_filter, check_name, check_topic


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "tiktok/+/chat",
        "tiktok/#",
        "tiktok/a+b",
        "tiktok/a\0b",
        "tiktok//live",
        "/tiktok/live",
        "tiktok/live/",
        "$SYS/broker",
        "t/" + "x" * 65535,
        "tiktok/\ud800",  # lone surrogate: not encodable as UTF-8
    ],
)
def test_check_topic_refuses(topic: str) -> None:
    with pytest.raises(TopicError):
        check_topic(topic)


@pytest.mark.parametrize("topic", ["tiktok/bridge/state", "a", "home/tiktok/ünï/x y", "t/$x"])
def test_check_topic_accepts(topic: str) -> None:
    assert check_topic(topic) == topic


@pytest.mark.parametrize("topic_filter", ["tiktok/#", "tiktok/+/chat/send", "#", "+/+", "a/b"])
def test_check_filter_accepts(topic_filter: str) -> None:
    assert check_filter(topic_filter) == topic_filter


@pytest.mark.parametrize("topic_filter", ["tiktok/#/x", "tiktok/a#", "tiktok/a+", "a//b", "", "\0"])
def test_check_filter_refuses(topic_filter: str) -> None:
    with pytest.raises(TopicError):
        check_filter(topic_filter)


@pytest.mark.parametrize(
    "name", ["", "Alice", "al ice", "a/b", "+", "#", "..", ".", "é", "a\0", "x" * 65, "$a"]
)
def test_check_name_refuses(name: str) -> None:
    with pytest.raises(TopicError):
        check_name(name)


def test_bridge_topics() -> None:
    t = Topics("tiktok")
    assert t.bridge_state == "tiktok/bridge/state"
    assert t.bridge_info == "tiktok/bridge/info"
    assert t.bridge_health == "tiktok/bridge/health"
    assert t.bridge_event == "tiktok/bridge/event"
    assert t.bridge_logging == "tiktok/bridge/logging"
    assert t.request("streamer/add") == "tiktok/bridge/request/streamer/add"
    assert t.response("health_check") == "tiktok/bridge/response/health_check"
    assert t.request_filter == "tiktok/bridge/request/#"
    assert t.command_of_request("tiktok/bridge/request/streamer/add") == "streamer/add"
    assert t.command_of_request("tiktok/bridge/request/") is None
    assert t.command_of_request("tiktok/alice/chat/send") is None


def test_streamer_topics_with_multi_level_base() -> None:
    s = Topics("home/tiktok").streamer("ali.ce_1-x")
    assert s.availability == "home/tiktok/ali.ce_1-x/availability"
    assert s.live == "home/tiktok/ali.ce_1-x/live"
    assert s.viewers == "home/tiktok/ali.ce_1-x/viewers"
    assert s.state == "home/tiktok/ali.ce_1-x/state"
    assert s.watch_state == "home/tiktok/ali.ce_1-x/watch/state"
    assert s.watch_set == "home/tiktok/ali.ce_1-x/watch/set"
    assert s.chat_send == "home/tiktok/ali.ce_1-x/chat/send"
    assert s.reconnect == "home/tiktok/ali.ce_1-x/reconnect"
    assert s.gift_progress == "home/tiktok/ali.ce_1-x/gift/progress"
    assert s.event("gift") == "home/tiktok/ali.ce_1-x/gift"
    assert s.event("event/unknown") == "home/tiktok/ali.ce_1-x/event/unknown"
    assert s.goals == "home/tiktok/ali.ce_1-x/goals"
    assert s.goal_event == "home/tiktok/ali.ce_1-x/goal"
    assert s.leaderboard == "home/tiktok/ali.ce_1-x/leaderboard"
    assert s.commands == (
        s.watch_set, s.chat_send, s.reconnect, "home/tiktok/ali.ce_1-x/goals/set",
        "home/tiktok/ali.ce_1-x/goals/reset", "home/tiktok/ali.ce_1-x/leaderboard/reset",
    )  # fmt: skip
    assert all(check_topic(topic) for topic in (s.availability, s.event("chat")))


@pytest.mark.parametrize("user", ["bridge", "Alice", "@alice", "a/b", "+", "../x", ""])
def test_streamer_names_must_be_safe_identifiers(user: str) -> None:
    with pytest.raises(TopicError):
        Topics("tiktok").streamer(user)


@pytest.mark.parametrize("event_topic", ["Gift", "gift/", "a b", "+", "gift/#", "Zoë 🦄"])
def test_event_topics_must_be_safe(event_topic: str) -> None:
    with pytest.raises(TopicError):
        Topics("tiktok").streamer("alice").event(event_topic)


@pytest.mark.parametrize("base", ["", "tiktok/", "a/+/b", "#", "a/../b", "$SYS"])
def test_base_topic_is_checked(base: str) -> None:
    with pytest.raises(TopicError):
        Topics(base)


def test_streamer_of_splits_only_streamer_topics() -> None:
    t = Topics("tiktok")
    assert t.streamer_of("tiktok/alice/chat/send") == ("alice", "chat/send")
    assert t.streamer_of("tiktok/bridge/request/restart") is None
    assert t.streamer_of("tiktok/alice") is None
    assert t.streamer_of("other/alice/chat/send") is None
    assert t.streamer_of("tiktok/Alice/chat/send") is None


def test_payload_encoding() -> None:
    assert encode_json({"a": "👋 ü", "id": "7168509739276485637"}) == (
        '{"a":"👋 ü","id":"7168509739276485637"}'.encode()
    )
    assert to_bytes(b"\x00raw") == b"\x00raw"
    assert to_bytes(bytearray(b"ba")) == b"ba"
    assert to_bytes("Grüße") == "Grüße".encode()
    assert to_bytes(None) == b""
    assert to_bytes(True) == b"true"
    assert to_bytes(12) == b"12"
    assert to_bytes(1.5) == b"1.5"
    assert to_bytes([1, "x"]) == b'[1,"x"]'
    with pytest.raises(ValueError):
        to_bytes(float("nan"))  # not JSON; JavaScript consumers cannot parse NaN
