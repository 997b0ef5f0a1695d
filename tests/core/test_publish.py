"""End to end: simulator → Bridge → real mosquitto; every retained topic and event payload."""

from __future__ import annotations

from pathlib import Path

from bridge.clock import VirtualClock
from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from tests.core.support import (
    config_yaml,
    events_on,
    make_config,
    running,
    running_virtual,
    status_is,
    validate_events,
)
from tests.helpers.clock import flowing
from tests.helpers.mosquitto import Mosquitto, Subscribe

STREAMER = """\
- user: alice
  events: [chat, gift, like, follow, share, subscribe, stream, member]
  gift_tiers: {small: 1, medium: 100, large: 1000}
  like_window_ms: 200
"""


async def test_live_stream_topics_and_payloads(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", STREAMER), tmp_path)
    async with running_virtual(cfg):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.push(
            m.chat("ann", "hello 👋"),
            *m.gift_streak("bob", "Rose", 5),
            m.gift("cem", 9999, "Universe", 1200, 2, repeat_count=1),
            m.like("dan", 15, 1200),
            m.like("eve", 10, 1210),
            m.follow("fay"),
            m.share("gus"),
            m.viewers(812, 2000),
            m.member("hal"),
        )
        await rec.wait_for("tiktok/alice/viewers", lambda msg: msg.payload == b"812")
        await rec.wait_for("tiktok/alice/like")
        await rec.wait_for("tiktok/alice/state", lambda msg: msg.json()["likes"] == 1210)
        state = await rec.wait_for("tiktok/alice/state", lambda msg: msg.json()["diamonds"] == 1205)

    # Retained per-streamer topics.
    assert rec.on("tiktok/alice/availability")[0].text == "online"
    assert [x.text for x in rec.on("tiktok/alice/live")][-1] == "ON"
    snapshot = state.json()
    assert snapshot["live"] is True and snapshot["status"] == "connected"
    assert snapshot["room_id"] == str(room.room_id)
    assert snapshot["viewers"] == 812 and snapshot["follows"] == 1 and snapshot["shares"] == 1
    assert snapshot["live_since"].endswith("Z") and snapshot["last_event"].endswith("Z")

    chats = events_on(rec, "tiktok/alice/chat")
    assert [c["text"] for c in chats] == ["hello 👋"]
    chat = chats[0]
    assert chat["type"] == chat["event_type"] == "chat" and chat["streamer"] == "alice"
    assert chat["room_id"] == str(room.room_id)
    assert isinstance(chat["msg_id"], str) and isinstance(chat["user"]["id"], str)
    assert chat["user"]["unique_id"] == "ann" and "simulated" not in chat

    gifts = events_on(rec, "tiktok/alice/gift")
    # One event per finished streak: the Rose streak of 5 once, the Universe once.
    assert [(g["gift"]["name"], g["count"], g["event_type"]) for g in gifts] == [
        ("Rose", 5, "gift_small"),
        ("Universe", 1, "gift_large"),
    ]
    assert rec.on("tiktok/alice/gift/progress") == []  # gift_progress is off

    likes = events_on(rec, "tiktok/alice/like")
    assert sum(like["count"] for like in likes) == 25 and likes[-1]["total"] == 1210
    assert [e["event_type"] for e in events_on(rec, "tiktok/alice/member")] == ["join"]
    assert len(events_on(rec, "tiktok/alice/follow")) == 1
    assert len(events_on(rec, "tiktok/alice/share")) == 1
    started = events_on(rec, "tiktok/alice/stream")
    assert [s["event_type"] for s in started] == ["started"]
    # Viewer counts are retained state, not an event topic.
    assert all(not x.topic.endswith("/viewers") or x.payload.isdigit() for x in rec.messages)

    every_event = [
        e
        for t in ("chat", "gift", "like", "member", "follow", "share", "stream")
        for e in events_on(rec, f"tiktok/alice/{t}")
    ]
    assert all(not x.retain for t in ("chat", "gift", "like") for x in rec.on(f"tiktok/alice/{t}"))
    validate_events(every_event)

    # Likes in the retained state never go backwards within the stream.
    totals = [x.json()["likes"] for x in rec.on("tiktok/alice/state") if x.payload]
    assert totals == sorted(totals)
    # Clean stop: availability offline, bridge offline.
    assert rec.on("tiktok/alice/availability")[-1].text == "offline"
    assert rec.on("tiktok/bridge/state")[-1].text == "offline"


async def test_disabled_event_types_are_not_published(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    streamer = "- user: alice\n  events: [gift]\n  like_window_ms: 0\n"
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", streamer), tmp_path)
    async with running_virtual(cfg):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.push(m.chat("ann", "muted"), m.like("dan", 5, 500), m.gift("bob", 9999, "X", 7, 2))
        await rec.wait_for("tiktok/alice/gift")
        # Filtered events still count in the retained state.
        await rec.wait_for("tiktok/alice/state", lambda msg: msg.json()["likes"] == 500)
    assert rec.on("tiktok/alice/chat") == [] and rec.on("tiktok/alice/like") == []


async def test_stream_end_then_new_stream(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    first_room = room.room_id
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", STREAMER), tmp_path)
    async with running_virtual(cfg):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.push(m.like("dan", 15, 300))
        await rec.wait_for("tiktok/alice/state", lambda msg: msg.json()["likes"] == 300)
        room.end()
        await rec.wait_for("tiktok/alice/live", lambda msg: msg.text == "OFF")
        ended = await rec.wait_for(
            "tiktok/bridge/event", lambda x: x.json()["type"] == "stream_ended"
        )
        await rec.wait_for("tiktok/alice/state", status_is("waiting_for_live"))
        stream_events = await rec.wait_for(
            "tiktok/alice/stream", lambda x: x.json()["event_type"] == "ended"
        )
        ended_events = [
            x for x in rec.on("tiktok/bridge/event") if x.json()["type"] == "stream_ended"
        ]
        rec.clear()
        second_room = room.go_live()
        await rec.wait_for("tiktok/alice/live", lambda msg: msg.text == "ON")
        fresh = await rec.wait_for("tiktok/alice/state", status_is("connected"))
    assert ended.json()["data"]["streamer"] == "alice"
    assert ended.json()["data"]["room_id"] == str(first_room)
    # The simulator closes the socket right behind the control frame: the frame must still
    # be read (not lost to the failing ack), so the end is TikTok's, reported exactly once.
    assert stream_events.json()["reason"] == "ended"
    assert len(ended_events) == 1
    # A new stream: new room id, per-stream totals start again from zero.
    assert second_room != first_room
    assert fresh.json()["room_id"] == str(second_room) and fresh.json()["likes"] == 0


async def test_waiting_for_live_then_live(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=False)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", STREAMER), tmp_path)
    async with running_virtual(cfg):
        waiting = await rec.wait_for("tiktok/alice/state", status_is("waiting_for_live"))
        assert rec.on("tiktok/alice/live")[-1].text == "OFF"
        assert rec.on("tiktok/alice/availability")[-1].text == "online"
        room.go_live()
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        await rec.wait_for("tiktok/alice/live", lambda msg: msg.text == "ON")
        started = await rec.wait_for(
            "tiktok/bridge/event", lambda x: x.json()["type"] == "stream_started"
        )
    assert waiting.json()["live"] is False and waiting.json()["room_id"] is None
    assert started.json()["data"]["room_id"] == str(room.room_id)


async def test_unknown_user_is_not_found_and_unavailable(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", "- nobody\n"), tmp_path)
    async with running_virtual(cfg):
        await rec.wait_for("tiktok/nobody/state", status_is("not_found"))
        await rec.wait_for("tiktok/nobody/availability", lambda msg: msg.text == "offline")
        err = await rec.wait_for("tiktok/bridge/event", lambda x: x.json()["type"] == "watch_error")
    assert err.json()["data"] == {
        "streamer": "nobody",
        "reason": "not_found",
        "detail": err.json()["data"]["detail"],
        "retry_after_s": 1,
    }


async def test_reconnect_dedupes_replayed_history(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", STREAMER), tmp_path)
    async with running_virtual(cfg) as bridge:
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.push(m.chat("ann", "one"), m.chat("ann", "two"), m.chat("ann", "three"))
        await rec.wait_count("tiktok/alice/chat", 3)
        room.drop_connections()
        # The bridge came back (a second socket entered, and got the history replayed).
        await room.wait_for(lambda: len(room.records) >= 2 and bool(room.entered_connections()))
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.push(m.chat("ann", "four"))
        room.push(m.chat("ann", "five"))  # a later fact: one socket, one sink, in order
        await rec.wait_for("tiktok/alice/chat", lambda msg: msg.json()["text"] == "five")
        health = bridge.health()["streamers"]["alice"]
    texts = [c["text"] for c in events_on(rec, "tiktok/alice/chat")]
    assert texts == ["one", "two", "three", "four", "five"]  # no duplicate came before it
    assert health["reconnects"] >= 1
    assert health["duplicates"] >= 3  # the replayed history really arrived, and was dropped
    # A transport loss is not a stream end: live never went OFF.
    assert all(x.text == "ON" for x in rec.on("tiktok/alice/live")[1:])
    assert not [x for x in rec.on("tiktok/bridge/event") if x.json()["type"] == "stream_ended"]


async def test_health_and_info(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/bridge/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", STREAMER), tmp_path)
    clock = VirtualClock()  # health_interval_s passes in virtual time
    async with running(cfg, clock), flowing(clock):
        info = await rec.wait_for("tiktok/bridge/info")
        health = await rec.wait_for(
            "tiktok/bridge/health", lambda x: "alice" in x.json()["streamers"], timeout=15
        )
    data = info.json()
    assert data["version"] and data["api_version"] == 1 and data["streamers"] == ["alice"]
    assert data["config"]["mqtt"]["base_topic"] == "tiktok"
    h = health.json()
    assert h["mqtt"]["connected"] is True and h["uptime_s"] >= 0 and h["rss_mb"] > 0
    assert {"status", "live", "reconnects", "events", "decode_errors"} <= set(
        h["streamers"]["alice"]
    )


async def test_control_message_ends_stream(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", STREAMER), tmp_path)
    async with running_virtual(cfg):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.push(m.gift("bob", "Rose", repeat_count=3), m.control(m.SUSPENDED))
        ended = await rec.wait_for(
            "tiktok/alice/stream", lambda x: x.json()["event_type"] == "ended"
        )
        await rec.wait_for("tiktok/alice/live", lambda msg: msg.text == "OFF")
        await rec.wait_for("tiktok/alice/state", status_is("waiting_for_live"))
    assert ended.json()["reason"] == "moderation" and ended.json()["action"] == 4
    # The open streak was finalised before the end (it belongs to this stream).
    assert [g["count"] for g in events_on(rec, "tiktok/alice/gift")] == [3]


async def test_viewer_controlled_strings_never_become_topics(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", STREAMER), tmp_path)
    hostile = m.viewer("evil", "a/+/#\x00$SYS/../")
    async with running_virtual(cfg):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.push(
            m.chat(hostile, "tiktok/bridge/request/streamer/remove"),
            m.gift(hostile, 9, "x/#", 5, 2),
        )
        chat = await rec.wait_for("tiktok/alice/chat")
        await rec.wait_for("tiktok/alice/gift")
    assert chat.json()["user"]["nickname"] == "a/+/#\x00$SYS/../"  # only inside the JSON
    fixed = {
        "bridge/state", "bridge/info", "bridge/health", "bridge/event", "alice/availability",
        "alice/live", "alice/viewers", "alice/state", "alice/watch/state", "alice/chat",
        "alice/gift", "alice/stream", "alice/goals", "alice/leaderboard",
    }  # fmt: skip
    assert {x.topic.removeprefix("tiktok/") for x in rec.messages} <= fixed
