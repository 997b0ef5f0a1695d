"""Triggers against event dicts (docs/events.md) and bridge events."""

from __future__ import annotations

from typing import Any

from bridge.actions.match import StreamCounters, command_rejected, match, observe
from bridge.actions.rules import Trigger
from tests.actions.support import chat, gift, like, simple


def fires(trigger: Trigger, *events: dict[str, Any]) -> list[dict[str, Any] | None]:
    counters = StreamCounters()
    results = []
    for event in events:
        seen = observe(counters, event)
        results.append(match(trigger, event, seen, counters))
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
    sub = gift()
    sub["user"]["is_subscriber"] = True
    assert fires(either, gift(), sub, {**gift(), "user": None}) == [None, {}, None]


def test_simple_types() -> None:
    assert fires(Trigger("follow"), simple("follow"), simple("share")) == [{}, None]
    assert fires(Trigger("join"), simple("member", event_type="join"),
                 simple("member", event_type="member")) == [{}, None]  # fmt: skip
    assert fires(Trigger("stream_ended"), simple("stream", event_type="ended"),
                 simple("stream_ended")) == [None, {}]  # fmt: skip
