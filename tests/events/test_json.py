"""The published JSON form: ids as strings, UTF-8 text, timestamps, schema."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bridge.events import (
    ALL_EVENT_CLASSES,
    ChatEvent,
    GiftEvent,
    GiftInfo,
    StreamEvent,
    User,
    iso_ts,
)
from tests.events._support import assert_valid, processor, synthetic_result

BIG = 7_301_234_567_890_123_457  # > 2**53: a float would round it


def test_iso_ts() -> None:
    assert iso_ts(1_696_447_177_581) == "2023-10-04T19:19:37.581Z"
    assert iso_ts(0) == "1970-01-01T00:00:00.000Z"


def test_64_bit_ids_are_exact_strings() -> None:
    user = User(id=BIG, unique_id="viewer")
    event = GiftEvent(
        msg_id=BIG + 1,
        room_id=BIG + 2,
        create_time_ms=1,
        user=user,
        gift=GiftInfo(id=BIG + 3, diamonds_each=1, type=1),
        group_id=BIG + 4,
        to_user=user,
    )
    data = json.loads(json.dumps(event.to_dict()))
    assert data["msg_id"] == str(BIG + 1)
    assert data["room_id"] == str(BIG + 2)
    assert data["gift"]["id"] == str(BIG + 3)
    assert data["group_id"] == str(BIG + 4)
    assert data["user"]["id"] == data["to_user"]["id"] == str(BIG)
    assert_valid(event, whole=True)


def test_utf8_round_trip_without_escapes() -> None:
    text = "hello from ann 👋 — Çelik 🌸"
    event = ChatEvent(
        msg_id=1, room_id=2, create_time_ms=3, user=User(id=4, nickname="Ann 🌸"), text=text
    )
    raw = json.dumps(event.to_dict(), ensure_ascii=False)
    assert "👋" in raw and "\\u" not in raw
    assert json.loads(raw.encode("utf-8").decode("utf-8"))["text"] == text


def test_invalid_utf8_in_strings_is_replaced_not_fatal() -> None:
    from bridge.tiktok.pb import webcast_pb2 as pb

    payload = pb.ChatMessage(common=pb.Common(msg_id=5, room_id=6)).SerializeToString()
    payload += b"\x1a\x03a\xffb"  # content (field 3) with an invalid byte
    (event,) = processor().feed_message("WebcastChatMessage", payload, 0.0)
    assert isinstance(event, ChatEvent)
    assert event.text == "a\ufffdb"


def test_envelope_keys_come_first_in_every_event() -> None:
    for event in processor().feed(synthetic_result(), 0.0):
        keys = list(event.to_dict())
        assert keys[:6] == ["type", "event_type", "ts", "room_id", "msg_id", "user"]
        assert keys[0] and event.to_dict()["type"] == event.topic


@pytest.mark.parametrize("cls", ALL_EVENT_CLASSES, ids=lambda c: c.topic)
def test_every_class_with_defaults_matches_the_schema(cls: type) -> None:
    extra = {"gift": GiftInfo(id=1)} if cls is GiftEvent else {}
    event = cls(msg_id=1, room_id=2, create_time_ms=3, **extra)
    assert_valid(event, whole=True)


def test_events_are_immutable_and_topics_fixed() -> None:
    event = StreamEvent(msg_id=1, room_id=2, create_time_ms=3, kind="paused", action=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.kind = "ended"  # type: ignore[misc]
    topics = [c.topic for c in ALL_EVENT_CLASSES]
    assert len(topics) == len(set(topics))  # one topic level per class
    assert all(t.isidentifier() for t in topics)  # never wildcards or separators
