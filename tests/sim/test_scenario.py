"""Scripted sessions and the `sim` command."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import Counter

import pytest
from websockets.exceptions import ConnectionClosed

from bridge.sim import Scenario, TikTokSimulator, demo_session
from bridge.sim import messages as m
from bridge.sim.scenario import go_live, push
from tests.sim.rawclient import fetch_result, joined, recv_until


async def test_steps_run_in_time_order(simulator: TikTokSimulator) -> None:
    seen: list[str] = []
    scenario = (
        Scenario()
        .at(0.02, lambda sim: seen.append("second"))
        .at(0.0, lambda sim: seen.append("first"))
        .at(0.04, go_live("carol"))
    )
    await simulator.play(scenario, speed=2)
    assert seen == ["first", "second"]
    assert simulator.room("carol").live


async def test_demo_session_reaches_a_raw_client(simulator: TikTokSimulator) -> None:
    room = simulator.add_user("sim_streamer", live=True)
    assert room.room_id is not None
    first_room = room.room_id
    ws = await joined(simulator.endpoints.websocket, first_room, simulator.mint_ttwid())
    scenario = demo_session("sim_streamer")
    # The demo's first step starts a NEW stream; keep the room id the client joined.
    scenario.steps[0].action = lambda sim: None
    methods: Counter[str] = Counter()

    async def consume() -> None:
        # Until the stream end closes the socket (acks are covered in test_push).
        with contextlib.suppress(ConnectionClosed):
            while True:
                frame = await recv_until(ws, "msg", within=30)
                methods.update(msg.method for msg in fetch_result(frame).messages)

    reader = asyncio.create_task(consume())
    await simulator.play(scenario, speed=math.inf)
    await asyncio.wait_for(reader, 30)
    for method in (
        m.CHAT,
        m.GIFT,
        m.LIKE,
        m.MEMBER,
        m.SOCIAL,
        m.ROOM_USER_SEQ,
        m.SUB_NOTIFY,
        m.QUESTION,
        m.BATTLE,
        m.ARMIES,
        m.ENVELOPE,
        m.INTRO,
        m.CONTROL,
        m.BARRAGE,  # a super fan
        m.BATTLE_ITEM_CARD,
        m.COMPETITION,
        m.IN_ROOM_BANNER,
    ):
        assert methods[method] > 0, method
    assert room.live and room.room_id != first_room  # the demo starts a second stream
    assert room.unacked == {}  # sockets of an ended stream are forgotten


def test_sim_command_is_discovered() -> None:
    from bridge.cli import build_parser

    args = build_parser().parse_args(
        ["sim", "--user", "alice", "--port", "0", "--scenario", "demo"]
    )
    assert args.user == ["alice"] and args.scenario == "demo"


async def test_sim_command_prints_endpoints(simulator: TikTokSimulator) -> None:
    snippet = simulator.config_yaml()
    assert f"websocket: ws://127.0.0.1:{simulator.port}" in snippet
    assert f"sign_server: http://127.0.0.1:{simulator.port}" in snippet


@pytest.mark.parametrize("speed", [math.inf])
async def test_push_step_accepts_lists(simulator: TikTokSimulator, speed: float) -> None:
    room = simulator.add_user("dave", live=True)
    await simulator.play(
        Scenario().at(0, push("dave", lambda: m.gift_streak("bob", "Rose", 3))), speed=speed
    )
    assert room.push(m.chat("x", "y")) == 0  # nobody joined: pushes are not queued
