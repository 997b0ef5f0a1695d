"""The scripted synthetic scenario (fixtures/synthetic/README): the whole pipeline."""

from __future__ import annotations

from bridge.events import (
    ChatEvent,
    Event,
    FollowEvent,
    GiftEvent,
    LikeEvent,
    MemberEvent,
    ShareEvent,
    StreamEvent,
    ViewersEvent,
)
from bridge.tiktok.frames import decode_frame, decode_msg_frame
from tests.events._support import ROOM, assert_valid, processor, synthetic, synthetic_result


def _of(events: list[Event], cls: type[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, cls)]


def test_scenario_events() -> None:
    proc = processor()
    events = proc.feed(synthetic_result(), 0.0)
    gifts = _of(events, GiftEvent)
    assert [(g.gift.name, g.count, g.diamonds, g.final) for g in gifts] == [  # type: ignore[attr-defined]
        ("Rose", 5, 5, True),  # one final event for the 6 streak messages
        ("Lion", 1, 29999, True),  # type 2: final at once, no repeat_end needed
    ]
    (viewers,) = _of(events, ViewersEvent)
    assert (viewers.current, viewers.total) == (42, 1337)  # type: ignore[attr-defined]
    (chat,) = _of(events, ChatEvent)
    assert chat.text == "hello from ann 👋"  # type: ignore[attr-defined]
    (join,) = _of(events, MemberEvent)
    assert join.event_type == "join"
    assert len(_of(events, FollowEvent)) == 1
    assert len(_of(events, ShareEvent)) == 1
    (like,) = _of(events, LikeEvent)
    assert (like.count, like.total) == (15, 123456)  # type: ignore[attr-defined]
    # The stream end comes last: pending likes/streaks are flushed before it.
    assert isinstance(events[-1], StreamEvent)
    assert (events[-1].event_type, events[-1].reason) == ("ended", "ended")
    assert all(e.room_id == ROOM for e in events)
    assert proc.stats.decoded == 14 and proc.stats.unknown == 0
    for event in events:
        assert_valid(event)


def test_lion_is_published_before_any_tick() -> None:
    proc = processor(like_window_s=5.0)
    events = proc.feed(synthetic_result(), 0.0)
    assert any(isinstance(e, GiftEvent) and e.gift.name == "Lion" for e in events)


def test_gzip_and_plain_frames_give_the_same_events_as_the_whole_result() -> None:
    whole = [e.to_dict() for e in processor().feed(synthetic_result(), 0.0)]
    proc = processor()
    split: list[Event] = []
    for name in ("frame_gzip.bin", "frame_plain.bin"):
        split += proc.feed(decode_msg_frame(decode_frame(synthetic(name))), 0.0)
    split += proc.flush()
    assert [e.to_dict() for e in split] == whole


def test_replaying_the_same_result_is_deduplicated() -> None:
    proc = processor()
    first = proc.feed(synthetic_result(), 0.0)
    again = proc.feed(synthetic_result(), 1.0)
    assert first and again == []
    assert proc.stats.duplicates == 14
