"""The push socket behaves like TikTok's towards a raw client (docs/protocol.md §4.3, §5)."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bridge.sim import SimConfig, TikTokSimulator
from bridge.sim import messages as m
from bridge.tiktok.pb import webcast_pb2 as pb
from tests.sim.rawclient import (
    ack_frame,
    enter_frame,
    fetch_result,
    hb_frame,
    headers_of,
    joined,
    open_socket,
    recv_frame,
    recv_until,
)


def _live(sim: TikTokSimulator, name: str = "alice") -> int:
    room_id = sim.add_user(name, live=True).room_id
    assert room_id is not None
    return room_id


async def _rejected(sim: TikTokSimulator, room_id: int | None, ttwid: str | None) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        await open_socket(sim.endpoints.websocket, room_id, ttwid)
    return info.value


# ------------------------------------------------------------------ handshake


async def test_accepted_socket_announces_handshake_options(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    ws = await open_socket(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    assert ws.response is not None
    options = ws.response.headers["Handshake-Options"]
    interval = simulator.config.ping_interval_s
    assert f"ping-interval={interval:g}" in options and "ping-timeout=" in options
    await ws.close()


async def test_socket_without_ttwid_is_device_blocked(simulator: TikTokSimulator) -> None:
    err = await _rejected(simulator, _live(simulator), None)
    assert err.response.status_code == 415
    assert err.response.headers["Handshake-Msg"] == "DEVICE_BLOCKED"


async def test_socket_with_made_up_ttwid_is_device_blocked(simulator: TikTokSimulator) -> None:
    err = await _rejected(simulator, _live(simulator), "1%7Cnot-minted-here")
    assert err.response.status_code == 415


async def test_socket_without_room_id_is_400(simulator: TikTokSimulator) -> None:
    err = await _rejected(simulator, None, simulator.mint_ttwid())
    assert err.response.status_code == 400


@pytest.mark.parametrize("status", [400, 200])
async def test_handshake_status_fault(simulator: TikTokSimulator, status: int) -> None:
    room_id = _live(simulator)
    simulator.handshake_status(status)
    err = await _rejected(simulator, room_id, simulator.mint_ttwid())
    assert err.response.status_code == status
    assert simulator.stats.ws_rejected[status] == 1


async def test_block_device_blocks_only_that_ttwid(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    flagged = simulator.mint_ttwid()
    simulator.block_device(flagged)
    err = await _rejected(simulator, room_id, flagged)
    assert err.response.headers["Handshake-Msg"] == "DEVICE_BLOCKED"
    # The recovery: mint a fresh ttwid and retry.
    ws = await open_socket(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    await ws.close()


async def test_ttwid_from_sign_server_cookie_is_accepted(simulator: TikTokSimulator) -> None:
    import httpx

    room_id = _live(simulator)
    async with httpx.AsyncClient(base_url=simulator.base_url) as http:
        resp = await http.get("/webcast/fetch", params={"room_id": room_id, "user_agent": "UA"})
    ttwid = resp.headers["X-Set-TT-Cookie"].split(";")[0].removeprefix("ttwid=")
    ws = await open_socket(simulator.endpoints.websocket, room_id, ttwid)
    await ws.close()


# ------------------------------------------------------------------ room entry and traffic


async def test_no_messages_without_im_enter_room(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    room = simulator.room("alice")
    ws = await open_socket(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    await room.wait_for(lambda: len(room.connections) == 1)
    assert room.push(m.chat("ann", "nobody hears this")) == 0
    # A heartbeat still gets its echo, and it is the only frame that arrives.
    await ws.send(hb_frame(room_id, 1))
    assert (await recv_frame(ws)).payload_type == "hb"
    await ws.close()


async def test_enter_room_then_messages_arrive(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    room = simulator.room("alice")
    ws = await open_socket(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    await ws.send(enter_frame(room_id, 777))
    resp = await recv_frame(ws)
    assert resp.payload_type == "im_enter_room_resp"
    assert room.push(m.chat("ann", "hello 👋"), m.like("bob", 15, 300)) == 1
    frame = await recv_until(ws, "msg")
    result = fetch_result(frame)
    assert [msg.method for msg in result.messages] == [m.CHAT, m.LIKE]
    chat = pb.ChatMessage()
    chat.ParseFromString(result.messages[0].payload)
    assert chat.content == "hello 👋"
    assert chat.common.room_id == room_id  # bound to the room it was pushed into
    assert result.messages[0].msg_id == chat.common.msg_id > 2**53
    assert simulator.connections[0].enter_unique_ids == [777]
    await ws.close()


async def test_enter_for_another_room_gets_nothing(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    room = simulator.room("alice")
    ws = await open_socket(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    await ws.send(enter_frame(room_id + 1))
    await room.wait_for(lambda: bool(room.records[0].enter_room))
    assert room.push(m.chat("ann", "x")) == 0
    assert "im_enter_room for room" in room.records[0].errors[0]
    await ws.close()


async def test_every_heartbeat_is_answered_and_recorded(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    ws = await joined(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    for seq in (2, 3):
        await ws.send(hb_frame(room_id, seq))
        assert (await recv_until(ws, "hb")).payload_type == "hb"
    assert simulator.connections[0].heartbeats == [1, 2, 3]
    await ws.close()


async def test_socket_closed_when_heartbeats_stop() -> None:
    config = SimConfig(heartbeat_timeout_s=0.3, ping_interval_s=0.1)
    async with TikTokSimulator(config=config) as sim:
        room_id = _live(sim)
        ws = await joined(sim.endpoints.websocket, room_id, sim.mint_ttwid())
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
        assert ws.close_reason == "payload_handler_hb"
        assert sim.connections[0].closed_reason == "heartbeat_timeout"
        assert sim.stats.heartbeat_timeouts == 1


async def test_acks_are_checked_against_what_was_sent(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    room = simulator.room("alice")
    ws = await joined(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    room.push(m.chat("ann", "one"))
    room.push(m.chat("ann", "two"))
    first, second = await recv_until(ws, "msg"), await recv_until(ws, "msg")
    assert first.log_id != second.log_id
    ext1, ext2 = fetch_result(first).internal_ext, fetch_result(second).internal_ext
    assert ext1 != ext2 and fetch_result(first).need_ack
    assert set(room.unacked) == {first.log_id, second.log_id}
    await ws.send(ack_frame(first.log_id, ext1))
    await ws.send(ack_frame(second.log_id, "wrong internal_ext"))
    await room.wait_for(lambda: len(room.acks) == 2)
    assert [a.ok for a in room.acks] == [True, False]
    assert room.unacked == {}
    assert (first.log_id, ext1) in simulator.acks
    await ws.close()


# ------------------------------------------------------------------ framing


async def test_gzip_frames_carry_header_and_magic(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    room = simulator.room("alice")
    ws = await joined(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    room.push(m.chat("ann", "zip"))
    frame = await recv_until(ws, "msg")
    assert headers_of(frame)["compress_type"] == "gzip"
    assert frame.payload[:3] == b"\x1f\x8b\x08"
    assert frame.payload_encoding == "pb" and frame.service == 5 and frame.method == 8
    assert frame.seq_id > 0 and frame.log_id > 2**53
    await ws.close()


async def test_compress_empty_sends_plain_frames(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    room = simulator.room("alice")
    ws = await joined(simulator.endpoints.websocket, room_id, simulator.mint_ttwid(), compress="")
    room.push(m.chat("ann", "plain"))
    frame = await recv_until(ws, "msg")
    assert headers_of(frame)["compress_type"] == "none"
    assert frame.payload[:2] != b"\x1f\x8b"
    assert len(fetch_result(frame).messages) == 1
    await ws.close()


async def test_alternate_mode_sends_gzip_without_header() -> None:
    async with TikTokSimulator(config=SimConfig(compress_header="alternate")) as sim:
        room_id = _live(sim)
        room = sim.room("alice")
        ws = await joined(sim.endpoints.websocket, room_id, sim.mint_ttwid())
        for text in ("a", "b", "c"):
            room.push(m.chat("ann", text))
        frames = [await recv_until(ws, "msg") for _ in range(3)]
        with_header = ["compress_type" in headers_of(f) for f in frames]
        assert True in with_header and False in with_header
        assert all(f.payload[:3] == b"\x1f\x8b\x08" for f in frames)
        assert [fetch_result(f).messages[0].method for f in frames] == [m.CHAT] * 3
        await ws.close()


# ------------------------------------------------------------------ history, end, faults


async def test_history_replayed_with_same_msg_ids(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    room = simulator.room("alice")
    first = await joined(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    room.push(m.chat("ann", "one"), m.chat("bob", "two"), m.like("cem", 3, 3))
    live_ids = [msg.msg_id for msg in fetch_result(await recv_until(first, "msg")).messages]
    await first.close()
    again = await joined(
        simulator.endpoints.websocket, room_id, simulator.mint_ttwid(), history_comment_count="6"
    )
    replay = fetch_result(await recv_until(again, "msg"))
    assert [msg.msg_id for msg in replay.messages] == live_ids[:2]  # chats only
    assert all(msg.method == m.CHAT for msg in replay.messages)
    await again.close()


async def test_end_sends_control_then_closes(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    room = simulator.room("alice")
    ws = await joined(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    room.end()
    result = fetch_result(await recv_until(ws, "msg"))
    control = pb.ControlMessage()
    control.ParseFromString(result.messages[0].payload)
    assert result.messages[0].method == m.CONTROL and control.action == 3
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert not room.live and room.status == 4
    assert room.go_live() != room_id  # a new stream gets a new room id


async def test_drop_connections_cuts_without_close_frame(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    room = simulator.room("alice")
    ws = await joined(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    room.drop_connections()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1006  # abnormal closure: no close frame was received
    assert room.records[0].closed_reason == "dropped"


async def test_half_open_goes_silent_but_stays_open(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    room = simulator.room("alice")
    ws = await joined(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    room.half_open()
    assert room.push(m.chat("ann", "lost")) == 0
    await ws.send(hb_frame(room_id, 2))
    await room.wait_for(lambda: len(room.records[0].heartbeats) == 2)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), 0.3)
    assert ws.state.name == "OPEN"
    room.half_open(False)  # let the close handshake through
    await ws.close()
    assert ws.close_code == 1000


async def test_garbage_and_truncated_frames(simulator: TikTokSimulator) -> None:
    room_id = _live(simulator)
    room = simulator.room("alice")
    ws = await joined(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    room.send_garbage()
    room.send_truncated()
    room.send_raw(b"\x01\x02")
    received = [await asyncio.wait_for(ws.recv(), 5) for _ in range(3)]
    assert all(isinstance(data, bytes) for data in received)
    bad = 0
    for data in received:
        assert isinstance(data, bytes)
        try:
            fetch_result(pb.PushFrame.FromString(data))
        except Exception:
            bad += 1
    assert bad == 3
    await ws.close()


async def test_restart_keeps_port_and_state() -> None:
    async with TikTokSimulator() as sim:
        room_id = _live(sim)
        port = sim.port
        ws = await joined(sim.endpoints.websocket, room_id, sim.mint_ttwid())
        await sim.restart()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert sim.port == port
        again = await joined(sim.endpoints.websocket, room_id, sim.mint_ttwid())
        assert sim.room("alice").push(m.chat("ann", "back")) == 1
        await again.close()


async def test_real_payload_replayed_byte_for_byte(simulator: TikTokSimulator) -> None:
    from tests.helpers.paths import fixtures_dir

    room_id = _live(simulator)
    room = simulator.room("alice")
    path = fixtures_dir() / "real-2023" / "payloads.jsonl"
    method, payload = next(m.real_payloads(path, methods=["WebcastGiftMessage"]))
    ws = await joined(simulator.endpoints.websocket, room_id, simulator.mint_ttwid())
    room.push_raw(method, payload)
    result = fetch_result(await recv_until(ws, "msg"))
    assert result.messages[0].method == "WebcastGiftMessage"
    assert result.messages[0].payload == payload
    assert result.messages[0].msg_id == m.common_of(payload)[1] > 2**53
    await ws.close()


def test_announced_heartbeat_interval_must_fit_the_timeout() -> None:
    # A server that announced 10 s and dropped sockets after 5 s would fault obedient clients.
    with pytest.raises(ValueError, match="ping_interval_s"):
        SimConfig(heartbeat_timeout_s=5.0, ping_interval_s=10.0)
