"""Stream goals and the top-gifters leaderboard through the bridge: a real mosquitto, the
TikTok simulator's likes, gifts and follows driving progress, the goal event firing once per
stream, set/reset over MQTT (and their errors), a new stream starting over, a reload, and a
restart of the daemon process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from bridge.sim.rooms import SimRoom
from tests.core.support import (
    config_yaml,
    events_on,
    make_config,
    running_virtual,
    status_is,
    validate_events,
)
from tests.core.test_commands import publish, request
from tests.core.test_daemon import Daemon
from tests.helpers.mosquitto import Mosquitto, MqttRecorder, Subscribe
from tests.helpers.paths import REPO

STREAMER = """\
- user: alice
  like_window_ms: 0
  goals: {likes: 100, diamonds: 50, follows: 2}
  leaderboard_size: 2
"""
FAN1 = m.viewer("fan1", "Fan One")
FAN2 = m.viewer("fan2", "Fan Two")
FAN3 = m.viewer("fan3", "Fan Three")


def goal(name: str, **want: Any) -> Any:
    """Predicate: a goals JSON whose goal `name` has these values."""
    return lambda x: bool(x.payload) and all(x.json()[name][k] == v for k, v in want.items())


def reached(rec: MqttRecorder) -> list[tuple[str, int, int]]:
    return [(e["event_type"], e["target"], e["value"]) for e in events_on(rec, "tiktok/alice/goal")]


async def barrier(room: SimRoom, rec: MqttRecorder, text: str) -> None:
    """Everything TikTok sent before this chat has been published (events keep their order),
    so a goal event that did not come before it never will."""
    room.push(m.chat(FAN3, text))
    await rec.wait_for("tiktok/alice/chat", lambda x: x.json()["text"] == text)


async def test_goals_and_leaderboard_follow_the_stream(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", STREAMER), tmp_path)
    async with running_virtual(cfg):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        await rec.wait_for("tiktok/alice/goals", goal("likes", target=100, value=0))
        await rec.wait_for("tiktok/alice/leaderboard", lambda x: x.json()["top"] == [])

        # Likes: the room total drives the goal, the same number as state.likes.
        room.push(m.like(FAN1, 15, total=60))
        await rec.wait_for("tiktok/alice/goals", goal("likes", value=60, percent=60.0))
        room.push(m.like(FAN1, 15, total=105))
        await rec.wait_for("tiktok/alice/goal")
        await rec.wait_for("tiktok/alice/goals", goal("likes", reached=True, percent=100.0))
        room.push(m.like(FAN2, 15, total=300))
        await rec.wait_for("tiktok/alice/state", lambda x: x.json()["likes"] == 300)
        await barrier(room, rec, "after likes")
        assert reached(rec) == [("likes", 100, 105)]  # once, though the total went on

        # Gifts: diamonds of finished gifts; the leaderboard ranks the gifters.
        room.push(m.gift(FAN1, 9001, name="Pebble", diamonds=30, type=2))
        room.push(m.gift(FAN2, 9002, name="Stone", diamonds=25, type=2))
        room.push(m.gift(FAN3, 9003, name="Dust", diamonds=1, type=2))
        goal_events = await rec.wait_count("tiktok/alice/goal", 2)
        assert goal_events[1].json()["user"]["nickname"] == "Fan Two"  # completed it
        board = await rec.wait_for("tiktok/alice/leaderboard", lambda x: len(x.json()["top"]) == 2)
        assert [(t["nickname"], t["diamonds"], t["gifts"]) for t in board.json()["top"]] == [
            ("Fan One", 30, 1), ("Fan Two", 25, 1),
        ]  # fmt: skip
        assert board.json()["top"][0]["user_id"] == str(FAN1.id)
        assert board.json()["room_id"] == str(room.room_id)

        # Follows.
        room.push(m.follow(FAN1), m.follow(FAN2))
        await rec.wait_count("tiktok/alice/goal", 3)
        await rec.wait_for("tiktok/alice/goals", goal("follows", value=2, reached=True))
        assert reached(rec) == [("likes", 100, 105), ("diamonds", 50, 55), ("follows", 2, 2)]

        # A new target over MQTT (what HA's number sends); the goal waits for it anew.
        await publish(mosquitto, "tiktok/alice/goals/set", {"likes": 400})
        ok = await rec.wait_for("tiktok/bridge/response/goals/set")
        assert ok.json()["status"] == "ok"
        assert ok.json()["data"]["goals"] == {"likes": 400, "diamonds": 50, "follows": 2}
        await rec.wait_for("tiktok/alice/goals", goal("likes", target=400, reached=False))
        room.push(m.like(FAN2, 15, total=410))
        await rec.wait_count("tiktok/alice/goal", 4)
        # Reset: progress of one goal from now; the others untouched.
        await publish(mosquitto, "tiktok/alice/goals/reset", "likes")
        # target=400: the goals JSON of the reset, not the stream's first one (value 0 too).
        await rec.wait_for("tiktok/alice/goals", goal("likes", value=0, reached=False, target=400))
        room.push(m.like(FAN2, 15, total=450))
        await rec.wait_for("tiktok/alice/goals", goal("likes", value=40, target=400))
        await publish(mosquitto, "tiktok/alice/leaderboard/reset", "")
        await rec.wait_for("tiktok/alice/leaderboard", lambda x: x.json()["top"] == [])

        # A new stream: every goal and the board start over; the targets stay.
        rec.clear()
        room.end()
        await rec.wait_for("tiktok/alice/live", lambda x: x.text == "OFF")
        room.go_live()
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        fresh = await rec.wait_for("tiktok/alice/goals", goal("diamonds", value=0))
        assert {k: (v["target"], v["value"], v["reached"]) for k, v in fresh.json().items()} == {
            "likes": (400, 0, False), "diamonds": (50, 0, False), "follows": (2, 0, False),
        }  # fmt: skip
        await rec.wait_for(
            "tiktok/alice/leaderboard",
            lambda x: x.json() == {"room_id": str(room.room_id), "top": []},
        )
        room.push(m.gift(FAN3, 9004, name="Rock", diamonds=60, type=2))
        event = (await rec.wait_for("tiktok/alice/goal")).json()
        assert (event["event_type"], event["room_id"]) == ("diamonds", str(room.room_id))
        goal_payloads = events_on(rec, "tiktok/alice/goal")
    assert validate_events(goal_payloads) == 1
    assert all(not x.retain for x in rec.on("tiktok/alice/goal"))


async def test_bad_goal_commands_get_errors_and_change_nothing(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=False)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", STREAMER), tmp_path)
    async with running_virtual(cfg):
        await rec.wait_for("tiktok/alice/goals", goal("likes", target=100))
        # No wait: the sink subscribes (SUBACK awaited) before it publishes any state.
        answers = {
            name: await request(mosquitto, rec, cmd, payload, name)
            for name, (cmd, payload) in {
                "negative": ("goals/set", {"user": "alice", "likes": -1}),
                "huge": ("goals/set", {"user": "alice", "diamonds": 10**13}),
                "typo": ("goals/set", {"user": "alice", "like": 5}),
                "float": ("goals/set", {"user": "alice", "follows": 1.5}),
                "text": ("goals/set", {"user": "alice", "likes": "100"}),
                "nothing": ("goals/set", {"user": "alice"}),
                "ghost": ("goals/set", {"user": "ghost", "likes": 5}),
                "bad_goal": ("goals/reset", {"user": "alice", "goal": "shares"}),
                "no_user": ("leaderboard/reset", {}),
            }.items()
        }
        before = len(rec.on("tiktok/bridge/response/goals/set"))
        await publish(mosquitto, "tiktok/alice/goals/set", "1000")  # a bare number: which goal?
        await publish(mosquitto, "tiktok/alice/goals/set", b'{"likes": ')
        bare = await rec.wait_count("tiktok/bridge/response/goals/set", before + 2)
        good = await request(mosquitto, rec, "goals/set", {"user": "alice", "follows": 3}, "ok")
        await rec.wait_for("tiktok/alice/goals", goal("follows", target=3))
        reset = await request(mosquitto, rec, "goals/reset", {"user": "alice"}, "r")
        board = await request(mosquitto, rec, "leaderboard/reset", {"user": "alice"}, "b")
    errors = {name: a["error"] for name, a in answers.items() if a["status"] == "error"}
    assert set(errors) == set(answers), answers
    assert errors["negative"] == "likes: must be 0 to 1000000000000, got -1"
    assert errors["huge"].startswith("diamonds: must be 0 to 1000000000000")
    assert "did you mean 'likes'" in errors["typo"]
    assert errors["float"].startswith("follows: ") and errors["text"].startswith("likes: ")
    assert "goals to set" in errors["nothing"] and "ghost" in errors["ghost"]
    assert errors["bad_goal"].startswith("goal: ")
    assert "'user' is required" in errors["no_user"]
    assert [b.json()["status"] for b in bare[-2:]] == ["error", "error"]
    assert "goals to set" in bare[-2].json()["error"]
    assert "invalid JSON" in bare[-1].json()["error"]
    assert good["status"] == "ok" and good["data"]["goals"]["likes"] == 100  # only follows
    assert reset["data"] == {"user": "alice", "reset": ["likes", "diamonds", "follows"]}
    assert board == {"status": "ok", "data": {"user": "alice"}, "transaction": "b"}
    # Nothing but the good request changed a target.
    targets = {tuple(x.json()[k]["target"] for k in ("likes", "diamonds", "follows"))
               for x in rec.on("tiktok/alice/goals")}  # fmt: skip
    assert targets == {(100, 50, 2), (100, 50, 3)}


async def test_simulated_events_reach_goals_while_not_live(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    """What the docs offer for trying an automation without a stream."""
    simulator.add_user("alice", live=False)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", STREAMER), tmp_path)
    async with running_virtual(cfg):
        await rec.wait_for("tiktok/alice/goals", goal("likes", target=100))
        # No wait: the sink subscribes (SUBACK awaited) before it publishes any state.
        gift = {"user": "alice", "type": "gift", "viewer": "sim", "gift": "Lion"}
        answer = await request(mosquitto, rec, "simulate", gift, "g")
        event = (await rec.wait_for("tiktok/alice/goal")).json()
        board = await rec.wait_for("tiktok/alice/leaderboard", lambda x: x.json()["top"] != [])
    assert answer["status"] == "ok"
    assert (event["event_type"], event["simulated"], event["user"]["unique_id"]) == (
        "diamonds", True, "sim",
    )  # fmt: skip
    assert board.json()["top"][0]["unique_id"] == "sim"
    validate_events([event])


async def test_targets_and_reached_goals_survive_a_restart_of_the_daemon(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    """The daemon as a process, stopped with SIGTERM and started again on the same state."""
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(config_yaml(mosquitto, simulator, tmp_path / "s", STREAMER))
    async with daemon_running(cfg, tmp_path / "d1.log"):
        await rec.wait_for("tiktok/alice/state", status_is("connected"), timeout=30)
        await asyncio.sleep(0.2)  # its subscriptions are made with the first publishes
        await publish(mosquitto, "tiktok/alice/goals/set", {"diamonds": 20})
        await rec.wait_for("tiktok/alice/goals", goal("diamonds", target=20))
        room.push(m.gift(FAN1, 9001, name="Pebble", diamonds=30, type=2))
        await rec.wait_for("tiktok/alice/goal")
    rec.clear()
    # Same stream after the restart: the set target is back and the goal does not fire again.
    async with daemon_running(cfg, tmp_path / "d2.log"):
        await rec.wait_for("tiktok/alice/state", status_is("connected"), timeout=30)
        await rec.wait_for("tiktok/alice/goals", goal("diamonds", target=20, reached=True))
        room.push(m.gift(FAN1, 9001, name="Pebble", diamonds=30, type=2))
        await rec.wait_for("tiktok/alice/goals", goal("diamonds", value=30))
        await barrier(room, rec, "after the restart")
        assert rec.on("tiktok/alice/goal") == []
    rec.clear()
    # The configuration file now says something else: the file wins over the old MQTT change.
    edited = STREAMER.replace("diamonds: 50", "diamonds: 70")
    cfg.write_text(config_yaml(mosquitto, simulator, tmp_path / "s", edited))
    async with daemon_running(cfg, tmp_path / "d3.log"):
        await rec.wait_for("tiktok/alice/goals", goal("diamonds", target=70), timeout=30)


@contextlib.asynccontextmanager
async def daemon_running(cfg: Path, log: Path) -> AsyncIterator[None]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    daemon = Daemon(cfg, log, {**env, "PYTHONPATH": str(REPO)})
    try:
        yield
        daemon.signal(signal.SIGTERM)
        assert await daemon.wait() == 0, daemon.text()[-3000:]
    finally:
        daemon.stop()


async def test_a_reload_applies_new_goals_and_leaderboard_size(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=False)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", STREAMER), tmp_path)
    async with running_virtual(cfg) as bridge:
        await rec.wait_for("tiktok/alice/leaderboard")
        edited = STREAMER.replace("likes: 100", "likes: 5000").replace("size: 2", "size: 0")
        await bridge.reload(make_config(config_yaml(mosquitto, simulator, tmp_path / "s", edited),
                                        tmp_path))  # fmt: skip
        await rec.wait_for("tiktok/alice/goals", goal("likes", target=5000))
        # No leaderboard any more: its retained topic is cleared.
        await rec.wait_for("tiktok/alice/leaderboard", lambda x: x.payload == b"")
        assert bridge.restart_keys == []  # applied in place
