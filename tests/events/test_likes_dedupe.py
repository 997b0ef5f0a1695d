"""Like windows with a monotonic room total, and bounded de-duplication."""

from __future__ import annotations

from bridge.events import Event, LikeEvent
from bridge.events.dedupe import Deduper
from tests.events._support import like_msg, processor

LIKE = "WebcastLikeMessage"


def _likes(events: list[Event]) -> list[tuple[int, int]]:
    return [(e.count, e.total) for e in events if isinstance(e, LikeEvent)]


def test_window_sums_counts_and_keeps_the_highest_total() -> None:
    proc = processor(like_window_s=1.0)
    out = proc.feed_message(LIKE, like_msg(1, count=15, total=1000), 0.0)
    out += proc.feed_message(LIKE, like_msg(2, count=10, total=900, uid=12), 0.4)  # other shard
    out += proc.feed_message(LIKE, like_msg(3, count=5, total=1010), 0.9)
    assert out == []
    (event,) = proc.tick(1.0)
    assert isinstance(event, LikeEvent)
    assert (event.count, event.total, event.users, event.user) == (30, 1010, 2, None)


def test_total_never_goes_backwards_across_windows() -> None:
    proc = processor(like_window_s=1.0)
    proc.feed_message(LIKE, like_msg(1, count=15, total=5000), 0.0)
    out = proc.feed_message(LIKE, like_msg(2, count=3, total=4000), 1.5)  # closes window 1
    out += proc.tick(2.5)
    assert _likes(out) == [(15, 5000), (3, 5000)]


def test_single_liker_keeps_the_user() -> None:
    proc = processor(like_window_s=1.0)
    proc.feed_message(LIKE, like_msg(1, count=2, total=10, uid=42), 0.0)
    proc.feed_message(LIKE, like_msg(2, count=3, total=13, uid=42), 0.1)
    (event,) = proc.flush()
    assert event.user is not None and event.user.id == 42


def test_window_zero_emits_each_message() -> None:
    proc = processor(like_window_s=0.0)
    out = proc.feed_message(LIKE, like_msg(1, count=1, total=50), 0.0)
    out += proc.feed_message(LIKE, like_msg(2, count=1, total=40), 0.0)
    assert _likes(out) == [(1, 50), (1, 50)]
    assert proc.max_like_total == 50


def test_dedupe_across_feeds_by_inner_and_common_ids() -> None:
    proc = processor()
    assert proc.feed_message(LIKE, like_msg(7, count=1, total=1), 0.0)
    assert proc.feed_message(LIKE, like_msg(7, count=1, total=1), 1.0) == []  # common.msg_id
    assert proc.feed_message(LIKE, like_msg(8, count=1, total=2), 2.0, msg_id=99)
    assert proc.feed_message(LIKE, like_msg(9, count=1, total=3), 3.0, msg_id=99) == []
    assert proc.stats.duplicates == 2


def test_deduper_is_bounded_and_forgets_the_oldest() -> None:
    d = Deduper(size=3)
    assert [d.seen(i) for i in (1, 2, 3)] == [False, False, False]
    assert d.seen(2) is True
    assert d.seen(4) is False  # evicts 1
    assert len(d) == 3
    assert d.seen(1) is False  # forgotten, so new again
    assert d.seen(0) is False and d.seen(0) is False  # no id: never a duplicate
