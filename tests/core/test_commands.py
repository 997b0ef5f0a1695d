"""Requests and per-streamer commands over a real broker: answers, errors, side effects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiomqtt

from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from tests.core.support import (
    config_yaml,
    events_on,
    make_config,
    running_virtual,
    status_is,
    validate_events,
)
from tests.helpers.mosquitto import Mosquitto, MqttRecorder, Subscribe


async def publish(broker: Mosquitto, topic: str, payload: Any, *, retain: bool = False) -> None:
    raw = (
        payload
        if isinstance(payload, bytes)
        else (payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
    )
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, raw, qos=1, retain=retain)


async def request(
    broker: Mosquitto, rec: MqttRecorder, command: str, payload: Any, transaction: str
) -> dict[str, Any]:
    if isinstance(payload, dict):
        payload = {**payload, "transaction": transaction}
    await publish(broker, f"tiktok/bridge/request/{command}", payload)
    msg = await rec.wait_for(
        f"tiktok/bridge/response/{command}", lambda x: x.json().get("transaction") == transaction
    )
    return msg.json()  # type: ignore[no-any-return]


async def test_error_answers_never_exceptions(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", "[]\n"), tmp_path)
    async with running_virtual(cfg) as bridge:
        await rec.wait_for("tiktok/bridge/info")
        # No wait: the sink subscribes (SUBACK awaited) before it publishes any state.
        bad_json = await _raw_request(mosquitto, rec, "streamer/add", b'{"user": "x",')
        not_utf8 = await _raw_request(mosquitto, rec, "streamer/remove", b"\xff\xfe")
        unknown_cmd = await request(mosquitto, rec, "nonsense", {}, "t1")
        unknown_user = await request(mosquitto, rec, "streamer/reconnect", {"user": "ghost"}, "t2")
        bad_sim = await request(mosquitto, rec, "simulate", {"user": "ghost", "type": "x"}, "t3")
        big = await _raw_request(mosquitto, rec, "simulate", b"{" + b" " * 5000 + b"}")
        health = await request(mosquitto, rec, "health_check", {}, "t4")
        assert bridge.router.rejected >= 5
    assert bad_json["status"] == "error" and "invalid JSON" in bad_json["error"]
    assert not_utf8["status"] == "error" and "UTF-8" in not_utf8["error"]
    assert unknown_cmd == {"status": "error", "data": {}, "error": "unknown command 'nonsense'",
                           "transaction": "t1"}  # fmt: skip
    assert unknown_user["status"] == "error" and "ghost" in unknown_user["error"]
    assert bad_sim["status"] == "error"
    assert big["status"] == "error" and "too large" in big["error"]
    assert health["status"] == "ok" and health["data"]["healthy"] is True
    assert health["transaction"] == "t4"
    assert all(not x.retain for x in rec.on("tiktok/bridge/response/#"))


async def _raw_request(broker: Mosquitto, rec: MqttRecorder, command: str, raw: bytes) -> dict:  # type: ignore[type-arg]
    before = len(rec.on(f"tiktok/bridge/response/{command}"))
    await publish(broker, f"tiktok/bridge/request/{command}", raw)
    msgs = await rec.wait_count(f"tiktok/bridge/response/{command}", before + 1)
    return msgs[-1].json()  # type: ignore[no-any-return]


async def test_streamer_add_and_remove(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("carol", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    state_dir = tmp_path / "s"
    cfg = make_config(config_yaml(mosquitto, simulator, state_dir, "[]\n"), tmp_path)
    async with running_virtual(cfg) as bridge:
        await rec.wait_for("tiktok/bridge/info")
        # No wait: the sink subscribes (SUBACK awaited) before it publishes any state.
        added = await request(
            mosquitto, rec, "streamer/add", {"user": "@Carol", "events": ["chat"]}, "a1"
        )
        await rec.wait_for("tiktok/carol/state", status_is("connected"))
        again = await request(mosquitto, rec, "streamer/add", {"user": "carol"}, "a2")
        room.push(m.chat("ann", "hi carol"))
        await rec.wait_for("tiktok/carol/chat")
        await rec.wait_for("tiktok/bridge/info", lambda x: x.json()["streamers"] == ["carol"])
        assert bridge.streamers == ["carol"]
        removed = await _raw_request(mosquitto, rec, "streamer/remove", b"carol")  # bare value
        await rec.wait_for("tiktok/carol/availability", lambda x: x.text == "offline")
        await rec.wait_for("tiktok/bridge/info", lambda x: x.json()["streamers"] == [])
        events = [x.json() for x in rec.on("tiktok/bridge/event")]
    assert added["status"] == "ok" and added["data"]["user"] == "carol"
    assert added["data"]["persistent"] is True and added["transaction"] == "a1"
    assert again["status"] == "error" and "already" in again["error"]
    assert removed["status"] == "ok"
    kinds = [(e["type"], e["data"].get("streamer")) for e in events]
    assert ("streamer_added", "carol") in kinds and ("streamer_removed", "carol") in kinds
    assert bridge.streamers == []


async def test_runtime_streamer_and_watch_switch_survive_restart(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=True)
    simulator.add_user("carol", live=False)
    rec = await subscriber(mosquitto, "tiktok/#")
    state_dir = tmp_path / "s"
    cfg = make_config(config_yaml(mosquitto, simulator, state_dir, "- alice\n"), tmp_path)
    async with running_virtual(cfg):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        await publish(mosquitto, "tiktok/alice/watch/set", "OFF")
        await rec.wait_for("tiktok/alice/watch/state", lambda x: x.text == "OFF")
        await rec.wait_for("tiktok/alice/state", status_is("paused"))
        await rec.wait_for("tiktok/alice/live", lambda x: x.text == "OFF")
        added = await request(mosquitto, rec, "streamer/add", {"user": "carol"}, "r1")
        assert added["status"] == "ok"
    rec.clear()
    async with running_virtual(cfg) as bridge:
        # Restarted: alice stays paused (persisted), carol is watched again.
        await rec.wait_for("tiktok/alice/watch/state", lambda x: x.text == "OFF")
        await rec.wait_for("tiktok/alice/state", status_is("paused"))
        await rec.wait_for("tiktok/carol/state", status_is("waiting_for_live"))
        assert sorted(bridge.streamers) == ["alice", "carol"]
        await publish(mosquitto, "tiktok/alice/watch/set", "ON")
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
    stored = json.loads((state_dir / "runtime.json").read_text())
    assert stored["watch"]["alice"] is True and "carol" in stored["streamers"]


async def test_retained_commands_are_ignored(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=True)
    # Left retained by a careless client before the bridge starts.
    await publish(mosquitto, "tiktok/alice/watch/set", "OFF", retain=True)
    await publish(
        mosquitto, "tiktok/bridge/request/streamer/remove", {"user": "alice"}, retain=True
    )
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", "- alice\n"), tmp_path)
    async with running_virtual(cfg) as bridge:
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        # No wait: the sink subscribes (SUBACK awaited) before it publishes any state.
        assert bridge.streamers == ["alice"]
        assert bridge.router.rejected == 2
    assert [x.text for x in rec.on("tiktok/alice/watch/state")] == ["ON"]
    assert rec.on("tiktok/bridge/response/#") == []


async def test_simulate_goes_through_the_pipeline(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=False)
    rec = await subscriber(mosquitto, "tiktok/#")
    streamer = (
        "- user: alice\n  events: [chat, gift, like, follow, subscribe, stream]\n"
        "  like_window_ms: 0\n  gift_tiers: {small: 1, big: 500}\n"
    )
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", streamer), tmp_path)
    async with running_virtual(cfg):
        await rec.wait_for("tiktok/alice/state", status_is("waiting_for_live"))
        # No wait: the sink subscribes (SUBACK awaited) before it publishes any state.
        cases: list[tuple[str, dict[str, Any]]] = [
            ("chat", {"viewer": "ann", "text": "sim chat"}),
            ("gift", {"viewer": "bob", "gift": "Rose", "count": 3}),
            ("gift", {"viewer": "cem", "gift": "Lion", "diamonds": 600}),
            ("like", {"viewer": "dan", "count": 7, "total": 70}),
            ("follow", {"viewer": "eve"}),
            ("subscribe", {"viewer": "fay", "months": 2}),
            ("share", {"viewer": "gus"}),  # share is not enabled for alice
        ]
        answers = [
            await request(mosquitto, rec, "simulate", {"user": "alice", "type": t, **f}, f"s{i}")
            for i, (t, f) in enumerate(cases)
        ]
        await rec.wait_for("tiktok/alice/subscribe")
        await rec.wait_for("tiktok/alice/state", lambda x: x.json()["likes"] == 70)
    assert [a["status"] for a in answers] == ["ok"] * 7
    payloads = [
        e
        for t in ("chat", "gift", "like", "follow", "subscribe")
        for e in events_on(rec, f"tiktok/alice/{t}")
    ]
    assert payloads and all(p["simulated"] is True and p["streamer"] == "alice" for p in payloads)
    gifts = events_on(rec, "tiktok/alice/gift")
    assert [(g["count"], g["event_type"]) for g in gifts] == [(3, "gift_small"), (1, "gift_big")]
    assert rec.on("tiktok/alice/share") == []
    validate_events(payloads)
    # Simulated events never turn a streamer live.
    assert [x.text for x in rec.on("tiktok/alice/live")] == ["OFF"]
