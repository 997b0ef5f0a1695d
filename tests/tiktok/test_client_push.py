"""PushSession against the simulator's real WebSocket, in both connection modes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bridge.settings.tiktok import DEFAULT_USER_AGENT, Session
from bridge.sim import messages
from bridge.sim.rooms import SimRoom
from bridge.sim.server import TikTokSimulator
from bridge.tiktok import frames
from bridge.tiktok.budget import CallBudget
from bridge.tiktok.client import TikTokClient
from bridge.tiktok.errors import (
    Blocked,
    ConnectionLost,
    HandshakeRejected,
    RateLimited,
    SignServerUnavailable,
)
from bridge.tiktok.pb import webcast_pb2 as pb
from bridge.tiktok.push import PushSession
from tests.helpers.settings import tiktok_settings

MODES = ["direct", "sign_server"]


@pytest.fixture
async def tt_sim() -> AsyncIterator[TikTokSimulator]:
    async with TikTokSimulator() as sim:
        yield sim


def make_client(sim: TikTokSimulator, mode: str, **overrides: Any) -> TikTokClient:
    settings = tiktok_settings(
        connection=mode,
        endpoints=sim.endpoints,
        http_timeout_s=5.0,
        connect_timeout_s=5.0,
        **overrides,
    )
    return TikTokClient(settings, budget=CallBudget(6000, burst=1000))


def live_room(sim: TikTokSimulator, name: str = "alice_live") -> tuple[SimRoom, int]:
    room = sim.add_user(name, live=True)
    assert room.room_id is not None
    return room, room.room_id


async def next_result(session: PushSession) -> pb.FetchResult:
    async with asyncio.timeout(10):
        return await anext(aiter(session))


async def next_chat(session: PushSession) -> str:
    """Content of the first chat message in the next batch that has one."""
    while True:
        result = await next_result(session)
        for method, inner in frames.iter_messages(result):
            if method == "WebcastChatMessage":
                return pb.ChatMessage.FromString(inner.payload).content


@pytest.mark.parametrize("mode", MODES)
async def test_session_receives_events_enters_room_and_acks(
    tt_sim: TikTokSimulator, mode: str
) -> None:
    room, room_id = live_room(tt_sim)
    client = make_client(tt_sim, mode)
    try:
        async with client.open_push(room_id, user="@alice_live") as session:
            await room.wait_entered()
            room.push(messages.chat("viewer1", "first"))
            room.push(messages.chat("viewer2", "second"))
            assert await next_chat(session) == "first"
            assert await next_chat(session) == "second"
            await room.wait_for(lambda: len(room.acks) >= 2)
            record = tt_sim.connections[0]
            assert record.enter_room == [room_id]
            assert record.enter_unique_ids[0] > 0
            # Each ack echoes the frame's log_id and that batch's internal_ext.
            assert len(room.acks) == session.stats.acks_sent >= 2
            assert all(ack.ok for ack in room.acks)
            assert len({ack.log_id for ack in room.acks}) == len(room.acks)
            assert record.errors == []
            assert session.stats.msg_frames >= 2
            assert session.stats.last_msg_at is not None
    finally:
        await client.aclose()


@pytest.mark.parametrize("mode", MODES)
async def test_handshake_carries_identity_cookies_and_params(
    tt_sim: TikTokSimulator, mode: str
) -> None:
    room, room_id = live_room(tt_sim)
    client = make_client(tt_sim, mode, session=Session("sid-secret", tt_target_idc="eu-ttp2"))
    try:
        async with client.open_push(room_id, user="alice_live"):
            await room.wait_entered()
            record = tt_sim.connections[0]
    finally:
        await client.aclose()
    assert record.header("User-Agent") == DEFAULT_USER_AGENT
    assert record.header("Origin") == tt_sim.endpoints.www
    assert tt_sim.ttwid_known(record.cookies["ttwid"])
    assert record.cookies["tt-target-idc"] == "eu-ttp2"
    assert record.cookies["sessionid"] == record.cookies["sid_tt"] == "sid-secret"
    assert [v for k, v in record.query_pairs if k == "version_code"] == ["180800", "270000"]
    assert record.query["device_platform"] == "web"
    assert record.query["room_id"] == str(room_id)
    if mode == "sign_server":
        assert "wrss" in record.query  # route_params of the signed fetch result
    else:
        assert record.path == "/webcast/im/ws_proxy/ws_reuse_supplement/"


async def test_sign_mode_exposes_initial_batch_unacked(tt_sim: TikTokSimulator) -> None:
    room, room_id = live_room(tt_sim)
    room.push(messages.chat("early", "before we came"))
    client = make_client(tt_sim, "sign_server")
    try:
        async with client.open_push(room_id, user="alice_live") as session:
            assert session.initial is not None
            assert session.initial.cursor
            methods = [m for m, _ in frames.iter_messages(session.initial)]
            assert "WebcastChatMessage" in methods
            await room.wait_entered()
            assert room.acks == []
    finally:
        await client.aclose()


async def test_direct_mode_has_no_initial_batch(tt_sim: TikTokSimulator) -> None:
    room, room_id = live_room(tt_sim)
    client = make_client(tt_sim, "direct")
    try:
        async with client.open_push(room_id, user="alice_live") as session:
            assert session.initial is None
            await room.wait_entered()
    finally:
        await client.aclose()
    assert tt_sim.stats.sign_fetches == 0


@pytest.mark.parametrize("mode", MODES)
async def test_heartbeats_carry_increasing_seq(tt_sim: TikTokSimulator, mode: str) -> None:
    room, room_id = live_room(tt_sim)
    client = make_client(tt_sim, mode)
    try:
        session = client.open_push(room_id, user="alice_live")
        async with session:
            # The simulator announces ping-interval=10 s; shorten it to see several beats.
            session.heartbeat_interval_s = 0.02
            await room.wait_entered()
            record = tt_sim.connections[0]
            await room.wait_for(lambda: len(record.heartbeats) >= 4)
            beats = list(record.heartbeats)
            assert beats[:4] == [1, 2, 3, 4]
            # The room was entered before the first heartbeat.
            kinds = [f.payload_type for f in record.frames]
            assert kinds.index("im_enter_room") < kinds.index("hb")
            assert session.stats.heartbeats_sent >= 4
    finally:
        await client.aclose()


async def test_heartbeat_interval_comes_from_handshake_options(tt_sim: TikTokSimulator) -> None:
    tt_sim.config.ping_interval_s = 7
    _, room_id = live_room(tt_sim)
    client = make_client(tt_sim, "direct", heartbeat_interval_s=3.0)
    try:
        async with client.open_push(room_id, user="alice_live") as session:
            assert session.heartbeat_interval_s == 7.0
    finally:
        await client.aclose()


@pytest.mark.parametrize("mode", MODES)
async def test_garbage_and_truncated_frames_are_skipped_and_counted(
    tt_sim: TikTokSimulator, mode: str
) -> None:
    room, room_id = live_room(tt_sim)
    client = make_client(tt_sim, mode)
    try:
        async with client.open_push(room_id, user="alice_live") as session:
            await room.wait_entered()
            room.send_garbage()
            room.send_truncated()
            room.send_raw(b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")  # varint overflow
            room.push(messages.chat("viewer1", "still alive"))
            assert await next_chat(session) == "still alive"
            assert session.stats.bad_frames >= 3
    finally:
        await client.aclose()


async def test_stale_socket_raises_connection_lost(tt_sim: TikTokSimulator) -> None:
    room, room_id = live_room(tt_sim)
    client = make_client(tt_sim, "direct", stale_after_s=0.3)
    try:
        async with client.open_push(room_id, user="alice_live") as session:
            await room.wait_entered()
            room.half_open()
            with pytest.raises(ConnectionLost, match="stale"):
                async for _ in session:
                    pass
            assert session.stats.frames >= 1  # it was alive before going silent
    finally:
        await client.aclose()


@pytest.mark.parametrize("how", ["close", "drop", "end"])
async def test_server_closing_raises_connection_lost(tt_sim: TikTokSimulator, how: str) -> None:
    room, room_id = live_room(tt_sim)
    client = make_client(tt_sim, "direct")
    try:
        async with client.open_push(room_id, user="alice_live") as session:
            await room.wait_entered()
            {"close": room.close_connections, "drop": room.drop_connections, "end": room.end}[how]()
            with pytest.raises(ConnectionLost):
                async for _ in session:
                    pass
            with pytest.raises(ConnectionLost):  # and it stays ended
                await next_result(session)
    finally:
        await client.aclose()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("fault", "status", "handshake_msg"),
    [("400", 400, "fault injected"), ("200", 200, None), ("blocked", 415, "DEVICE_BLOCKED")],
)
async def test_handshake_rejections(
    tt_sim: TikTokSimulator, mode: str, fault: str, status: int, handshake_msg: str | None
) -> None:
    _, room_id = live_room(tt_sim)
    if fault == "blocked":
        tt_sim.block_device()
    else:
        tt_sim.handshake_status(int(fault))
    client = make_client(tt_sim, mode)
    try:
        with pytest.raises(HandshakeRejected) as info:
            async with client.open_push(room_id, user="alice_live"):
                pass
    finally:
        await client.aclose()
    assert info.value.http_status == status
    assert info.value.handshake_msg == handshake_msg
    assert info.value.status == "blocked"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("sign_server_down", "HTTP 500"),
        ("sign_empty_body", "empty body"),
        ("sign_no_cookies", "did not return cookies"),
    ],
)
async def test_sign_server_failures(tt_sim: TikTokSimulator, fault: str, message: str) -> None:
    _, room_id = live_room(tt_sim)
    setattr(tt_sim.faults, fault, True)
    client = make_client(tt_sim, "sign_server")
    try:
        with pytest.raises(SignServerUnavailable, match=message) as info:
            async with client.open_push(room_id, user="alice_live"):
                pass
    finally:
        await client.aclose()
    assert info.value.transient
    assert tt_sim.stats.ws_accepted == 0


async def test_sign_server_refusing_the_key_is_not_transient(tt_sim: TikTokSimulator) -> None:
    tt_sim.faults.require_api_key = True
    _, room_id = live_room(tt_sim)
    client = make_client(tt_sim, "sign_server")
    try:
        with pytest.raises(SignServerUnavailable, match="refused the API key") as info:
            async with client.open_push(room_id, user="alice_live"):
                pass
    finally:
        await client.aclose()
    assert info.value.transient is False


async def test_sign_server_rate_limit_blocks_budget(tt_sim: TikTokSimulator) -> None:
    _, room_id = live_room(tt_sim)
    tt_sim.rate_limit(30)
    client = make_client(tt_sim, "sign_server", sign_api_key="key-secret")
    try:
        with pytest.raises(RateLimited) as info:
            async with client.open_push(room_id, user="alice_live"):
                pass
    finally:
        await client.aclose()
    assert info.value.retry_at == int(tt_sim.faults.rate_limited_until) + 1
    assert client.budget.blocked_until == info.value.retry_at
    assert "key-secret" not in str(info.value)


async def test_direct_mode_ttwid_minting_blocked_by_challenge(tt_sim: TikTokSimulator) -> None:
    _, room_id = live_room(tt_sim)
    tt_sim.faults.captcha = True
    client = make_client(tt_sim, "direct")
    try:
        with pytest.raises(Blocked, match="challenge"):
            async with client.open_push(room_id, user="alice_live"):
                pass
    finally:
        await client.aclose()


async def test_direct_mode_retries_until_ttwid_is_minted(tt_sim: TikTokSimulator) -> None:
    tt_sim.config.ttwid_every = 3  # only every third profile answer sets the cookie
    room, room_id = live_room(tt_sim)
    client = make_client(tt_sim, "direct")
    client.http.TTWID_DELAY_S = 0.01
    try:
        async with client.open_push(room_id, user="alice_live"):
            await room.wait_entered()
    finally:
        await client.aclose()
    assert tt_sim.stats.http_requests["/@alice_live"] + tt_sim.stats.http_requests["/@tiktok"] == 3


async def test_handshake_429_is_rate_limited(tt_sim: TikTokSimulator) -> None:
    _, room_id = live_room(tt_sim)
    tt_sim.handshake_status(429)
    client = make_client(tt_sim, "direct")
    try:
        with pytest.raises(RateLimited):
            async with client.open_push(room_id, user="alice_live"):
                pass
    finally:
        await client.aclose()
    assert client.budget.calls["connect"] == 1


@pytest.mark.parametrize("mode", MODES)
async def test_batches_before_a_server_close_are_delivered(
    tt_sim: TikTokSimulator, mode: str
) -> None:
    """The server closes right after sending: acking those batches fails, they still arrive."""
    room, room_id = live_room(tt_sim)
    client = make_client(tt_sim, mode)
    try:
        async with client.open_push(room_id, user="alice_live") as session:
            await room.wait_entered()
            room.push(messages.chat("viewer1", "last words"), need_ack=True)
            room.push(messages.chat("viewer2", "really last"), need_ack=True)
            room.close_connections(1000, "bye")
            # Let the close frame arrive before the batches are read, so the acks fail.
            await room.wait_closed()
            assert await next_chat(session) == "last words"
            assert await next_chat(session) == "really last"
            with pytest.raises(ConnectionLost):
                await next_result(session)
    finally:
        await client.aclose()
