"""ActionEngine with a recording sink: scheduling, cooldowns, caps, queues, kill switch.

Timing checks only look at order and counts, with generous bounds (never at speed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest

from bridge.actions.engine import ActionEngine
from tests.actions.support import Clock, RecordingSink, chat, gift, like, settings, simple

LAMP = "cmnd/lamp/POWER"
ON_OFF_RULE = """
rules:
  - name: rose
    trigger: {type: gift, gift: Rose}
    device: lamp
    actions:
      - topic: cmnd/lamp/POWER
        payload: "ON"
        then: {after_s: 0.3, payload: "OFF"}
"""

Make = Callable[..., ActionEngine]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    engines: list[ActionEngine] = []

    def _make(text: str, sink: RecordingSink, clock: Clock | None = None) -> ActionEngine:
        engine = ActionEngine(
            settings(text), sink, base_topic="tiktok", **({"clock": clock} if clock else {})
        )
        engine.start()
        engines.append(engine)
        return engine

    yield _make
    for engine in engines:
        await engine.close()


async def wait_until(check: Callable[[], bool], within: float = 10.0) -> None:
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - the engine has no event to wait on
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), within)


def texts(sink: RecordingSink, topic: str = LAMP) -> list[str]:
    return [s.text for s in sink.on(topic)]


async def test_on_then_off_after_delay_and_report(make: Make) -> None:
    sink = RecordingSink()
    engine = make(ON_OFF_RULE, sink)
    event = gift("Rose")
    engine.handle("alice", event)
    await wait_until(lambda: len(sink.on(LAMP)) == 2)
    on, off = sink.on(LAMP)
    assert (on.text, off.text) == ("ON", "OFF")
    assert not on.retained and not off.retained and on.qos == 1
    # A late "on" is dropped after a broker outage; a late "off" must still go out.
    assert on.expires and not off.expires
    assert off.at - on.at >= 0.25  # the "off" waits for after_s (lower bound only)
    (report,) = sink.reports()
    assert report["rule"] == "rose" and report["streamer"] == "alice"
    assert report["trigger_event"] == {"type": "gift", "event_type": "gift_small",
                                       "msg_id": str(event.msg_id)}  # fmt: skip
    assert [(a["topic"], a["payload"]) for a in report["actions"]["taken"]] == [
        (LAMP, "ON"),
        (LAMP, "OFF"),
    ]
    assert report["actions"]["skipped"] is None
    assert engine.stats()["fired"] == 1 and engine.stats()["published"] == 2


async def test_kill_switch_state_is_retained(make: Make) -> None:
    sink = RecordingSink()
    engine = make(ON_OFF_RULE, sink)
    assert sink.subscribed == ["tiktok/actions/set"]
    assert [(s.text, s.retained) for s in sink.on("tiktok/actions/state")] == [("ON", True)]
    assert engine.on_message("tiktok/actions/set", b"off", False) is True
    assert engine.on_message("tiktok/alice/watch/set", b"OFF", False) is False
    assert engine.on_message("tiktok/actions/set", b"ON", True) is True  # retained: ignored
    assert texts(sink, "tiktok/actions/state") == ["ON", "OFF"]
    assert engine.enabled is False


async def test_blink_repeats_in_order(make: Make) -> None:
    sink = RecordingSink()
    make(
        """
rules:
  - name: blink
    trigger: {type: follow}
    actions:
      - topic: cmnd/lamp/POWER
        payload: "ON"
        repeat: {times: 3, interval_s: 0.2}
        then: {after_s: 0.1, payload: "OFF"}
""",
        sink,
    ).handle("alice", simple("follow"))
    await wait_until(lambda: len(sink.on(LAMP)) == 6)
    assert texts(sink) == ["ON", "OFF"] * 3
    stamps = [s.at for s in sink.on(LAMP)]
    assert stamps[-1] - stamps[0] >= 0.45  # 2 intervals + after_s, lower bound


async def test_cooldown_with_injected_clock(make: Make) -> None:
    sink, clock = RecordingSink(), Clock()
    text = ON_OFF_RULE.replace("device: lamp", "device: lamp\n    cooldown_s: 10")
    text = text.replace('then: {after_s: 0.3, payload: "OFF"}', "retain: false")
    engine = make(text, sink, clock)
    engine.handle("alice", gift())
    clock.now += 5
    engine.handle("alice", gift())  # inside the cooldown
    clock.now += 6
    engine.handle("alice", gift())  # 11 s after the first: fires
    await wait_until(lambda: len(sink.on(LAMP)) == 2)
    reasons = [r["actions"]["skipped"] for r in sink.reports()]
    assert reasons.count({"reason": "cooldown"}) == 1
    assert engine.stats()["skipped"] == {"cooldown": 1}


async def test_global_cap_per_minute(make: Make) -> None:
    sink, clock = RecordingSink(), Clock()
    engine = make(
        """
max_per_minute: 3
queue: {max: 50}
rules:
  - name: any-gift
    trigger: {type: gift}
    actions: [{topic: cmnd/lamp/POWER, payload: "ON"}]
""",
        sink,
        clock,
    )
    for _ in range(5):
        engine.handle("alice", gift())
    clock.now += 61  # the window has moved on
    engine.handle("alice", gift())
    await wait_until(lambda: len(sink.on(LAMP)) == 4)
    assert engine.stats()["skipped"] == {"cap": 2}


async def test_queue_is_bounded(make: Make) -> None:
    sink = RecordingSink()
    engine = make(ON_OFF_RULE.replace("rules:", "queue: {max: 2, mode: queue}\nrules:"), sink)
    for _ in range(50):
        engine.handle("alice", gift())
    # One runs, two wait, 47 are refused at once.
    assert engine.stats()["skipped"] == {"queue_full": 47}
    assert engine.stats()["queued"] == 2
    await wait_until(lambda: len(sink.on(LAMP)) == 6, within=15)
    assert texts(sink) == ["ON", "OFF"] * 3


async def test_coalesce_keeps_the_latest(make: Make) -> None:
    sink = RecordingSink()
    engine = make(
        """
devices:
  lamp: {queue: {max: 1, mode: coalesce}}
rules:
  - name: colour
    trigger: {type: command, command: lamp, args: [red, green, blue, white]}
    device: lamp
    actions:
      - topic: cmnd/lamp/Color
        payload: "{{ arg }}"
        then: {after_s: 0.2, payload: "white"}
""",
        sink,
    )
    for word in ("red", "green", "blue"):
        engine.handle("alice", chat(f"!lamp {word}"))
    await wait_until(lambda: len(sink.on("cmnd/lamp/Color")) == 4)
    assert texts(sink, "cmnd/lamp/Color") == ["red", "white", "blue", "white"]
    assert engine.stats()["skipped"] == {"coalesced": 1}


async def test_drop_mode_skips_while_busy(make: Make) -> None:
    sink = RecordingSink()
    engine = make(ON_OFF_RULE.replace("rules:", "queue: {mode: drop}\nrules:"), sink)
    for _ in range(3):
        engine.handle("alice", gift())
    await wait_until(lambda: len(sink.on(LAMP)) == 2)
    assert engine.stats()["skipped"] == {"busy": 2}


async def test_kill_switch_stops_and_sends_offs(make: Make) -> None:
    sink = RecordingSink()
    text = ON_OFF_RULE.replace("after_s: 0.3", "after_s: 30").replace(
        "rules:", "max_on_s: 60\nrules:"
    )
    engine = make(text, sink)
    for _ in range(3):
        engine.handle("alice", gift())
    await wait_until(lambda: len(sink.on(LAMP)) == 1)  # the first is on, two wait
    engine.on_message("tiktok/actions/set", b"OFF", False)
    await wait_until(lambda: len(sink.on(LAMP)) == 2, within=5)  # not 30 s
    assert texts(sink) == ["ON", "OFF"]
    assert engine.stats()["skipped"] == {"disabled": 2}
    assert engine.stats()["forced_offs"] == 1
    engine.handle("alice", gift())  # switched off: reported, nothing published
    assert engine.stats()["skipped"] == {"disabled": 3}
    engine.on_message("tiktok/actions/set", b"ON", False)
    engine.handle("alice", gift())
    await wait_until(lambda: len(sink.on(LAMP)) == 3)
    assert texts(sink, "tiktok/actions/state") == ["ON", "OFF", "ON"]


async def test_shutdown_sends_pending_off(make: Make) -> None:
    sink = RecordingSink()
    text = ON_OFF_RULE.replace("after_s: 0.3", "after_s: 30").replace(
        "rules:", "max_on_s: 60\nrules:"
    )
    engine = make(text, sink)
    engine.handle("alice", gift())
    await wait_until(lambda: len(sink.on(LAMP)) == 1)
    await asyncio.wait_for(engine.close(), 5)
    assert texts(sink) == ["ON", "OFF"]
    engine.handle("alice", gift())  # after close: ignored
    assert texts(sink) == ["ON", "OFF"]


async def test_dry_run_publishes_nothing_but_reports(make: Make) -> None:
    sink = RecordingSink()
    engine = make(ON_OFF_RULE.replace("rules:", "dry_run: true\nrules:"), sink)
    engine.handle("alice", gift(nickname="Ann"))
    await asyncio.sleep(0.5)
    assert sink.on(LAMP) == []
    (report,) = sink.reports()
    assert report["actions"]["skipped"] == {"reason": "dry_run"}
    assert [(p["topic"], p["payload"]) for p in report["actions"]["would_publish"]] == [
        (LAMP, "ON"),
        (LAMP, "OFF"),
    ]
    assert engine.stats()["skipped"] == {"dry_run": 1}


async def test_retain_only_when_asked(make: Make) -> None:
    sink = RecordingSink()
    engine = make(
        """
rules:
  - name: on-air
    trigger: {type: stream_started}
    actions: [{topic: home/on_air, payload: "1", retain: true, qos: 0}]
  - name: off-air
    trigger: {type: stream_ended}
    actions: [{topic: home/on_air, payload: "0"}]
""",
        sink,
    )
    engine.handle("alice", simple("stream_started", room_id="1"))
    engine.handle("alice", simple("stream_ended", room_id="1"))
    await wait_until(lambda: len(sink.on("home/on_air")) == 2)
    assert [(s.text, s.retained, s.qos) for s in sink.on("home/on_air")] == [
        ("1", True, 0),
        ("0", False, 1),
    ]


async def test_payload_cap(make: Make) -> None:
    sink = RecordingSink()
    engine = make(
        """
max_payload_bytes: 64
rules:
  - name: echo
    trigger: {type: gift}
    actions: [{topic: home/echo, payload: "{{ user.nickname }}{{ user.nickname }}"}]
""",
        sink,
    )
    engine.handle("alice", gift(nickname="x" * 500))
    await asyncio.sleep(0.1)
    assert sink.on("home/echo") == []
    assert engine.stats()["skipped"] == {"payload_too_large": 1}


async def test_odd_events_never_raise(make: Make) -> None:
    sink = RecordingSink()
    engine = make(ON_OFF_RULE, sink)
    engine.handle("alice", gift(count=-5, final=False))
    engine.handle("alice", simple("unknown", method="WebcastNewMessage"))
    engine.handle("alice", simple("stream_ended"))
    engine.handle("alice", like(-3))
    assert engine.stats()["fired"] == 0
    assert json.dumps(engine.stats())  # JSON-ready for bridge/health
