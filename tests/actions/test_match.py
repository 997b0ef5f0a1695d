"""Triggers against typed events (docs/events.md) and the bridge's stream start/end."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bridge.actions.match import NO_CHANGE, Change, StreamMark, Subject, command_rejected, match
from bridge.actions.rules import Trigger
from bridge.core.publish import StreamerPublisher
from bridge.events.model import Event, LikeEvent, ViewersEvent
from bridge.mqtt.topics import Topics
from bridge.settings.streamer import ALL_EVENTS, StreamerSettings
from tests.actions.support import ROOM_ID, RecordingSink, chat, gift, like, simple


def fires(trigger: Trigger, *events: Subject) -> list[dict[str, Any] | None]:
    """match() as the engine calls it. Likes and viewer counts go through a real
    StreamerPublisher: its state (the bridge's one) gives the before/after values."""
    got: list[tuple[Event, Change]] = []
    publisher = StreamerPublisher(
        RecordingSink(),
        Topics("tiktok").streamer("alice"),
        StreamerSettings(user="alice", events=ALL_EVENTS),  # type: ignore[arg-type]
        bridge_event=lambda kind, data: None,
        on_event=lambda _streamer, event, change, _payload: got.append((event, change)),
    )
    fired: set[int] = set()
    results = []
    for event in events:
        change = NO_CHANGE
        if isinstance(event, StreamMark) and event.kind == "stream_started":
            publisher.stream_started(ROOM_ID, None, likes=int(event.data.get("likes", 0)))
            fired = set()  # as the engine does for each streamer
        elif isinstance(event, LikeEvent | ViewersEvent):
            got.clear()
            publisher.publish_events([event])
            ((event, change),) = got
        results.append(match(trigger, event, change, fired))
    return results


def test_gift_by_name_id_tier_and_diamonds() -> None:
    assert fires(Trigger("gift", gift="rose"), gift("Rose")) == [{}]
    assert fires(Trigger("gift", gift="5655"), gift("Rose")) == [{}]
    assert fires(Trigger("gift", gift="Lion"), gift("Rose")) == [None]
    assert fires(Trigger("gift", tier="large"), gift(tier="gift_large"), gift()) == [{}, None]
    # Per streak: the final event's diamonds; per gift: diamonds_each.
    assert fires(Trigger("gift", min_diamonds=100), gift(count=99), gift(count=100)) == [None, {}]
    assert fires(Trigger("gift", min_diamonds_each=10), gift(count=500), gift(each=10)) == [
        None,
        {},
    ]
    assert fires(Trigger("gift"), gift(final=False)) == [None]  # streak progress never fires


def test_like_every_and_threshold() -> None:
    every = fires(Trigger("like", every=100), like(60), like(60), like(30), like(250))
    assert every == [None, {"milestone": 100}, None, {"milestone": 400}]
    total = fires(Trigger("like", threshold=1000), like(5, 990), like(20, 1010), like(5, 1015))
    assert total == [None, {"milestone": 1000}, None]  # once per stream
    restarted = fires(Trigger("like", threshold=10), like(20, 20), simple("stream_started"),
                      like(20, 20))  # fmt: skip
    assert restarted == [{"milestone": 10}, None, {"milestone": 10}]


def test_viewers_crossing_upwards() -> None:
    counts = [50, 120, 130, 80, 101]
    events = [simple("viewers", current=c) for c in counts]
    assert fires(Trigger("viewers", threshold=100), *events) == [
        None, {"milestone": 100}, None, None, {"milestone": 100}
    ]  # fmt: skip


def test_chat_command_allow_list() -> None:
    trigger = Trigger("command", command="lamp", args=(("red", "#ff0000"), ("blue", "#0000ff")))
    texts = ["!lamp red", "!LAMP Blue", "!lamp <script>", "!lamp", "!lamp red now", "lamp red",
             "!lampred"]  # fmt: skip
    results = fires(trigger, *(chat(t) for t in texts))
    assert results == [
        {"command": "lamp", "arg": "#ff0000"},
        {"command": "lamp", "arg": "#0000ff"},
        None, None, None, None, None,
    ]  # fmt: skip
    assert command_rejected(trigger, chat("!lamp <script>"))
    assert not command_rejected(trigger, chat("hello"))


def test_command_without_args_ignores_them() -> None:
    assert fires(Trigger("command", command="party", prefix="/"), chat("/party now!")) == [
        {"command": "party", "arg": ""}
    ]


def test_moderator_and_subscriber_only() -> None:
    mods = Trigger("command", command="lamp", moderator_only=True)
    assert fires(mods, chat("!lamp"), chat("!lamp", moderator=True)) == [
        None,
        {"command": "lamp", "arg": ""},
    ]
    either = Trigger("gift", moderator_only=True, subscriber_only=True)
    plain = gift()
    assert plain.user is not None
    sub = replace(plain, user=replace(plain.user, is_subscriber=True))
    assert fires(either, plain, sub, replace(plain, user=None)) == [None, {}, None]


def test_simple_types() -> None:
    assert fires(Trigger("follow"), simple("follow"), simple("share")) == [{}, None]
    assert fires(Trigger("join"), simple("member", event_type="join"),
                 simple("member", event_type="member")) == [{}, None]  # fmt: skip
    assert fires(Trigger("stream_ended"), simple("stream", event_type="ended"),
                 simple("stream_ended")) == [None, {}]  # fmt: skip
