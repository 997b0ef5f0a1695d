"""Messages whose events nobody uses are not parsed (StreamProcessor ``topics``), and the
events of the others come out exactly as without the filter."""

from __future__ import annotations

from typing import Any

from bridge.core.publish import STATE_TOPICS, decoded_topics
from bridge.events import Event, UnknownEvent
from bridge.events.builders import TOPICS, UNKNOWN_TOPICS
from bridge.settings.streamer import ALL_EVENTS, DEFAULT_EVENTS, StreamerSettings
from tests.events._support import processor, real_payloads

ROWS = list(real_payloads())


def _all(topics: Any) -> tuple[list[Event], int]:
    proc = processor(gift_progress=True, topics=topics)
    events = [e for r in ROWS for e in proc.feed_message(r["method"], r["payload"], 0.0)]
    return [*events, *proc.flush()], proc.stats.skipped


def test_the_table_names_every_topic_a_method_produces() -> None:
    # Unfiltered, every real payload's event has a topic its method declares (an unmodelled
    # method only "unknown"): a builder that grows a new outcome must be listed, or its
    # events would be skipped for streamers that want them.
    _, skipped = _all(None)
    assert skipped == 0
    for row in ROWS:
        # A processor per message: a stream end also releases other messages' gifts.
        proc = processor(gift_progress=True)
        for event in proc.feed_message(row["method"], row["payload"], 0.0):
            declared = TOPICS.get(row["method"], UNKNOWN_TOPICS)
            assert event.topic.split("/")[0] in declared, (row["method"], event.topic)


def test_unwanted_messages_are_skipped_and_the_rest_is_unchanged() -> None:
    everything, _ = _all(None)
    # With "stream": a stream end releases open gift streaks, so it keeps their order.
    wanted = frozenset({"chat", "gift", "viewers", "stream"})
    some, skipped = _all(wanted)
    assert [e for e in everything if e.topic.split("/")[0] in wanted] == some
    assert {e.topic.split("/")[0] for e in some} == wanted
    assert skipped == sum(
        1 for r in ROWS if not set(TOPICS.get(r["method"], UNKNOWN_TOPICS)) & wanted
    )


def test_unknown_keeps_unmodelled_methods() -> None:
    decoded, _ = _all({"unknown"})
    # Social messages are parsed (they may be unknown): their follows come out too, and
    # the publisher filters them as always.
    assert {e.topic for e in decoded} <= {"unknown", "follow", "share", "super_fan"}
    some = [e for e in decoded if isinstance(e, UnknownEvent)]
    methods = {e.method for e in some}
    # Unmodelled methods, and the modelled ones that can fall back to unknown.
    assert "WebcastRoomMessage" in methods and "WebcastBarrageMessage" in methods
    assert "WebcastChatMessage" not in methods
    everything, _ = _all(None)
    assert [e for e in everything if e.topic == "unknown"] == some


def test_a_streamer_decodes_its_published_events_and_what_its_state_counts() -> None:
    default = decoded_topics(StreamerSettings(user="alice"))
    assert default == STATE_TOPICS | set(DEFAULT_EVENTS)
    # The busy joins are off by default: their messages are skipped.
    assert "member" not in default and "unknown" not in default
    assert {"gift", "like", "follow", "share", "viewers", "stream"} <= default
    chat_only = decoded_topics(StreamerSettings(user="alice", events=("chat",)))
    assert chat_only == STATE_TOPICS | {"chat"}
    every = StreamerSettings(user="alice", events=ALL_EVENTS)  # type: ignore[arg-type]
    assert decoded_topics(every) >= set(ALL_EVENTS)


def test_topics_can_change_on_a_live_processor() -> None:
    proc = processor(topics={"viewers"})
    row = next(r for r in ROWS if r["method"] == "WebcastChatMessage")
    assert proc.feed_message(row["method"], row["payload"], 0.0) == []
    proc.topics = {"chat"}
    (event,) = proc.feed_message(row["method"], row["payload"], 0.0)
    assert event.topic == "chat"
    assert proc.stats.skipped == 1
