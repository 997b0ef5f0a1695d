"""Real 2023 payloads: every `expected` value must come out of our events unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.events import (
    ChatEvent,
    Event,
    FollowEvent,
    GiftEvent,
    LikeEvent,
    MemberEvent,
    ShareEvent,
    StreamEvent,
    UnknownEvent,
    ViewersEvent,
)
from tests.events._support import assert_valid, processor, real_payloads

ROWS = list(real_payloads())
EXPECTED = [r for r in ROWS if r["expected"]]


def _decode(row: dict[str, Any]) -> Event:
    # Progress on and like windows off: every message yields exactly one event at once.
    events = processor(gift_progress=True).feed_message(row["method"], row["payload"], 0.0)
    assert len(events) == 1, f"{row['method']}: {events}"
    return events[0]


def test_fixture_counts() -> None:
    assert len(ROWS) == 977
    assert len(EXPECTED) == 416


@pytest.mark.parametrize("row", EXPECTED, ids=lambda r: f"{r['method']}-{r['expected']['msg_id']}")
def test_expected_values(row: dict[str, Any]) -> None:
    exp = row["expected"]
    event = _decode(row)
    assert event.msg_id == int(exp["msg_id"])
    assert event.room_id == int(exp["room_id"])
    assert event.create_time_ms == int(exp["create_time"])
    if "uid" in exp:
        assert event.user is not None
        assert event.user.id == int(exp["uid"])
        assert event.user.nickname == exp["nick"]
        assert event.user.unique_id == exp["handle"]
    _CHECKS[exp["method"]](event, exp)


def _chat(event: Event, exp: dict[str, str]) -> None:
    assert isinstance(event, ChatEvent)
    assert event.text == exp["content"]


def _gift(event: Event, exp: dict[str, str]) -> None:
    assert isinstance(event, GiftEvent)
    assert event.gift.id == int(exp["g_id"]) == int(exp["gift_id"])
    assert event.gift.name == exp["g_name"]
    assert event.gift.diamonds_each == int(exp["g_diamonds"])
    assert event.gift.type == int(exp["g_type"])
    assert event.group_id == int(exp["group_id"])
    assert event.count == max(int(exp["repeat_count"]), 1)
    assert event.diamonds == event.count * int(exp["g_diamonds"])
    # Non-streakable gifts are final at once although they carry repeat_end 0.
    assert event.final == (exp["repeat_end"] == "1" or exp["g_type"] != "1")


def _like(event: Event, exp: dict[str, str]) -> None:
    assert isinstance(event, LikeEvent)
    assert (event.count, event.total) == (int(exp["count"]), int(exp["total"]))


def _member(event: Event, exp: dict[str, str]) -> None:
    assert isinstance(event, MemberEvent)
    assert event.action == int(exp["action"])
    assert event.member_count == int(exp["member_count"])
    assert event.event_type == ("join" if exp["action"] == "1" else "member")


def _social(event: Event, exp: dict[str, str]) -> None:
    key = exp["dt_key"] or ""
    if "follow" in key:
        assert isinstance(event, FollowEvent)
        assert exp["action"] == "1"
        assert event.follow_count == int(exp["follow_count"])
    else:
        assert "share" in key
        assert isinstance(event, ShareEvent)
        assert event.share_type == int(exp["share_type"])


def _viewers(event: Event, exp: dict[str, str]) -> None:
    assert isinstance(event, ViewersEvent)
    assert event.current == int(exp["total"])  # field 3: current viewers
    assert event.total == int(exp["total_user"])  # field 7: cumulative


def _control(event: Event, exp: dict[str, str]) -> None:
    assert isinstance(event, StreamEvent)
    assert event.action == int(exp["action"])
    assert event.event_type == {"1": "paused", "2": "resumed", "3": "ended"}[exp["action"]]
    if exp["action"] == "3":
        assert event.reason == "ended"


_CHECKS = {
    "WebcastChatMessage": _chat,
    "WebcastGiftMessage": _gift,
    "WebcastLikeMessage": _like,
    "WebcastMemberMessage": _member,
    "WebcastSocialMessage": _social,
    "WebcastRoomUserSeqMessage": _viewers,
    "WebcastControlMessage": _control,
}


def test_social_split_matches_fixture_facts() -> None:
    follows = shares = 0
    for row in EXPECTED:
        if row["method"] != "WebcastSocialMessage":
            continue
        event = _decode(row)
        follows += isinstance(event, FollowEvent)
        shares += isinstance(event, ShareEvent)
    assert follows > 0 and shares > 0
    assert follows + shares == sum(r["method"] == "WebcastSocialMessage" for r in EXPECTED)


def test_every_line_decodes_or_is_unknown_and_matches_schema() -> None:
    proc = processor(gift_progress=True)
    topics: set[str] = set()
    for row in ROWS:
        for event in proc.feed_message(row["method"], row["payload"], 0.0):
            # The first event of each type also against the whole schema (oneOf of all types).
            data = assert_valid(event, whole=event.topic not in topics)
            topics.add(event.topic)
            if isinstance(event, UnknownEvent):
                assert data["method"] == row["method"]
                assert data["size"] == len(row["payload"])
    for event in proc.flush():
        assert_valid(event)
    assert proc.stats.bad == 0  # every modelled real message decodes
    # Lines are unique payloads, but two LiveIntro captures share one msg_id: one is dropped.
    assert proc.stats.duplicates == 1
    # Every modelled type that occurs in the captures is produced.
    assert {
        "chat",
        "gift",
        "like",
        "member",
        "follow",
        "share",
        "viewers",
        "stream",
        "emote",
        "envelope",
        "question",
        "battle",
        "intro",
        "pin",
        "delete",
        "rank",
        "unknown",
    } <= topics


def test_unknown_messages_keep_their_common_envelope() -> None:
    row = next(r for r in ROWS if r["method"] == "WebcastRoomMessage")
    (event,) = processor().feed_message(row["method"], row["payload"], 0.0)
    assert isinstance(event, UnknownEvent)
    assert event.reason == "unhandled"
    assert event.msg_id != 0 and event.room_id != 0
    assert event.create_time_ms > 1_690_000_000_000  # the capture's time, not the wall clock


def test_emote_only_chat() -> None:
    import base64

    from tests.helpers.paths import fixtures_dir

    raw = (fixtures_dir() / "real-2023/single-messages/MessageWebcastChatMessage.bin").read_bytes()
    (event,) = processor().feed_message("WebcastChatMessage", base64.b64decode(raw), 0.0)
    assert isinstance(event, ChatEvent)
    assert event.text == ""
    assert event.emotes and event.is_emote_only
    assert all(e.id and e.image_url for e in event.emotes)
