"""Gift streaks: one final per streak, timeouts, late finals, progress, tiers."""

from __future__ import annotations

from bridge.events import Event, GiftEvent, gift_tier
from bridge.settings.streamer import DEFAULT_GIFT_TIERS, GiftTier
from tests.events._support import gift_msg, processor

GIFT = "WebcastGiftMessage"


def _gifts(events: list[Event]) -> list[tuple[int, int, bool]]:
    return [(e.count, e.diamonds, e.final) for e in events if isinstance(e, GiftEvent)]


def test_streak_gives_one_final_event_with_the_last_count() -> None:
    proc = processor()
    out: list[Event] = []
    for i, count in enumerate((1, 2, 4, 7), start=1):
        out += proc.feed_message(GIFT, gift_msg(i, count=count, diamonds=5), float(i))
    assert out == []  # nothing until the streak ends
    out += proc.feed_message(GIFT, gift_msg(9, count=7, end=1, diamonds=5), 6.0)
    assert _gifts(out) == [(7, 35, True)]  # diamonds counted once: 5 x 7


def test_streak_times_out_and_a_late_final_is_swallowed() -> None:
    proc = processor(gift_streak_timeout_s=10.0)
    proc.feed_message(GIFT, gift_msg(1, count=1), 0.0)
    proc.feed_message(GIFT, gift_msg(2, count=3), 2.0)
    assert proc.tick(11.9) == []  # 9.9 s after the last update: still open
    assert _gifts(proc.tick(12.0)) == [(3, 3, True)]
    assert proc.feed_message(GIFT, gift_msg(3, count=3, end=1), 15.0) == []
    assert proc.feed_message(GIFT, gift_msg(4, count=4), 16.0) == []  # straggler
    assert proc.flush() == []


def test_progress_events_then_one_final() -> None:
    proc = processor(gift_progress=True)
    out: list[Event] = []
    for i, count in enumerate((1, 2, 3), start=1):
        out += proc.feed_message(GIFT, gift_msg(i, count=count), float(i))
    out += proc.feed_message(GIFT, gift_msg(9, count=3, end=1), 5.0)
    assert _gifts(out) == [(1, 1, False), (2, 2, False), (3, 3, False), (3, 3, True)]


def test_non_streakable_gift_is_final_at_once_and_never_twice() -> None:
    proc = processor()
    out = proc.feed_message(GIFT, gift_msg(1, count=1, gift_type=2, diamonds=100), 0.0)
    assert _gifts(out) == [(1, 100, True)]
    assert proc.tick(100.0) == [] and proc.flush() == []


def test_streaks_are_keyed_by_user_gift_and_group() -> None:
    proc = processor()
    proc.feed_message(GIFT, gift_msg(1, count=2, uid=1, group=7), 0.0)
    proc.feed_message(GIFT, gift_msg(2, count=3, uid=2, group=7), 0.0)
    out = proc.feed_message(GIFT, gift_msg(3, count=2, uid=1, group=7, end=1), 1.0)
    assert _gifts(out) == [(2, 2, True)]
    assert _gifts(proc.flush()) == [(3, 3, True)]  # user 2's streak is still separate


def test_final_without_prior_steps_and_out_of_order_steps() -> None:
    proc = processor()
    proc.feed_message(GIFT, gift_msg(1, count=5), 0.0)
    proc.feed_message(GIFT, gift_msg(2, count=3), 0.5)  # late, lower running total
    out = proc.feed_message(GIFT, gift_msg(3, count=0, end=1), 1.0)
    assert _gifts(out) == [(5, 5, True)]  # never less than the highest count seen
    single = processor().feed_message(GIFT, gift_msg(4, count=1, end=1), 0.0)
    assert _gifts(single) == [(1, 1, True)]


def test_gift_tier() -> None:
    assert gift_tier(1, DEFAULT_GIFT_TIERS) == "gift_small"
    assert gift_tier(99, DEFAULT_GIFT_TIERS) == "gift_small"
    assert gift_tier(100, DEFAULT_GIFT_TIERS) == "gift_medium"
    assert gift_tier(29999, DEFAULT_GIFT_TIERS) == "gift_large"
    assert gift_tier(0, DEFAULT_GIFT_TIERS) == "gift_small"  # below the lowest tier
    unordered = (GiftTier("big", 50), GiftTier("tiny", 0))
    assert gift_tier(60, unordered) == "big"


def test_with_tier_sets_event_type_only() -> None:
    (event,) = processor().feed_message(GIFT, gift_msg(1, count=1, gift_type=2), 0.0)
    assert isinstance(event, GiftEvent)
    tiered = event.with_tier("gift_medium")
    assert tiered.to_dict()["event_type"] == "gift_medium"
    assert event.to_dict()["event_type"] == "gift"
    assert {k: v for k, v in tiered.to_dict().items() if k != "event_type"} == {
        k: v for k, v in event.to_dict().items() if k != "event_type"
    }
