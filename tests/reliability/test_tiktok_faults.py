"""TikTok-side faults in one long session (real simulator + real mosquitto, the Bridge
in-process with fast back-off so the sequence takes seconds, not minutes).

Between two faults the test pushes chats and waits for them; at the end every chat that
reached a bridge socket was published exactly once and in order — no fault may lose or
duplicate anything (the simulator replays recent chats on every reconnect, as TikTok does,
so duplicates are a real risk). Bad frames must neither disconnect nor lose their
neighbours; socket-level faults must end in a reconnect.

Sign-server 429/500/timeouts and DEVICE_BLOCKED have their own timing tests in
tests/core/test_supervision.py (request log, back-off windows); here the point is that the
stream survives a long series of different faults. Refused handshakes (400, 200 instead
of 101) are at the end of this file.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from bridge.clock import VirtualClock
from bridge.sim import SimRoom, TikTokSimulator
from bridge.sim import messages as m
from bridge.tiktok import frames
from bridge.tiktok.pb import webcast_pb2 as pb
from tests.core.support import config_yaml, make_config, running, status_is
from tests.helpers.mosquitto import Mosquitto, MqttRecorder, Subscribe
from tests.reliability.support import chat_ids


class Stream:
    """Chats pushed to one room, checked against what arrived on MQTT."""

    def __init__(self, room: SimRoom, rec: MqttRecorder) -> None:
        self.room, self.rec = room, rec
        self.sent: list[str] = []
        self.seq = 0

    async def chats(self, count: int = 3) -> None:
        for _ in range(count):
            self.seq += 1
            item = m.chat("viewer", f"chat {self.seq}")
            assert self.room.push(item) == 1, "exactly one bridge socket should be in the room"
            self.sent.append(str(m.common_of(item[1])[1]))
        await self.rec.wait_for(
            f"tiktok/{self.room.unique_id}/chat",
            lambda x: x.json()["msg_id"] == self.sent[-1],
            timeout=20,
        )

    async def reconnected(self, before: int) -> None:
        """A new socket (after `before` records) entered the room."""
        await self.room.wait_for(
            lambda: len(self.room.records) > before and len(self.room.entered_connections()) == 1,
            30,
        )


def gzip_truncated_frame() -> bytes:
    result = pb.FetchResult(cursor="c", internal_ext="e")
    result.messages.add(method=m.CHAT, payload=m.chat("x", "never")[1], msg_id=1)
    frame = frames.decode_frame(
        frames.encode_msg_frame(result, seq_id=1, log_id=1, gzip=True, header_compress=True)
    )
    frame.payload = frame.payload[: len(frame.payload) // 2]  # gzip stream cut in half
    return frame.SerializeToString()


def wrong_type_frame() -> bytes:
    """A ChatMessage method carrying a GiftMessage body, and one carrying random bytes."""
    result = pb.FetchResult(cursor="c", internal_ext="e")
    result.messages.add(method=m.CHAT, payload=m.gift("x", 5655)[1], msg_id=2)
    result.messages.add(method=m.CHAT, payload=os.urandom(300), msg_id=3)
    result.messages.add(method="WebcastGiftMessage", payload=b"\xff" * 50, msg_id=4)
    return frames.encode_msg_frame(result, seq_id=2, log_id=2, gzip=False, header_compress=True)


def huge_frame(size: int = 10 * 1024 * 1024) -> bytes:
    """A 10 MB frame: one chat with a 10 MB comment (incompressible)."""
    result = pb.FetchResult(cursor="c", internal_ext="e")
    body = m.chat("big", os.urandom(size // 2).hex())[1]
    result.messages.add(method=m.CHAT, payload=body, msg_id=5)
    return frames.encode_msg_frame(result, seq_id=3, log_id=3, gzip=False, header_compress=True)


async def test_a_long_series_of_tiktok_faults_loses_and_duplicates_nothing(
    mosquitto: Mosquitto, sim: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = sim.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, sim, tmp_path / "state", "- alice\n"), tmp_path)
    async with running(cfg) as bridge:
        await room.wait_entered(1, 20)
        s = Stream(room, rec)
        await s.chats()

        # Bad frames on a healthy socket: skipped and counted, the socket stays.
        records = len(room.records)
        room.send_garbage(512)
        room.send_truncated()
        room.send_raw(gzip_truncated_frame())
        room.send_raw(wrong_type_frame())
        room.push(m.unknown("WebcastBrandNewMessage", b"\x0a\x02hi"))
        room.push(m.unknown("WebcastBrandNewMessage", os.urandom(64)))
        await s.chats()
        assert len(room.records) == records, "bad frames must not cost the connection"

        # A 10 MB frame: refused by the client's frame limit (or decoded); either way the
        # session goes on and nothing is lost around it.
        records = len(room.records)
        room.send_raw(huge_frame())
        await room.drain()
        if len(room.records) > records or not room.entered_connections():
            await s.reconnected(records)
        await s.chats()

        # Socket closed abruptly (no close frame), then with a close frame.
        for cut in (room.drop_connections, room.close_connections):
            records = len(room.records)
            cut()
            await s.reconnected(records)
            await s.chats()

        # The whole server restarts (every socket and HTTP connection drops).
        records = len(room.records)
        await sim.restart()
        await s.reconnected(records)
        await s.chats()

        # Streamer goes offline, comes back (a new room id), then moderation ends it.
        room.end()
        await rec.wait_for("tiktok/alice/live", lambda x: x.text == "OFF", timeout=20)
        records = len(room.records)
        room.go_live()
        await s.reconnected(records)
        await rec.wait_for("tiktok/alice/state", status_is("connected"), timeout=20)
        await s.chats()
        room.end(action=4)  # ended by moderation
        ended = await rec.wait_for(
            "tiktok/alice/stream",
            lambda x: x.json()["event_type"] == "ended" and x.json().get("action") == 4,
            timeout=20,
        )
        assert ended.json()["reason"]
        records = len(room.records)
        room.go_live()
        await s.reconnected(records)
        await s.chats()

        sup = bridge.supervisor("alice")
        assert sup.decode_errors >= 3  # garbage, truncated, gzip, wrong types: counted

    got = chat_ids(rec, "alice")
    # Exactly once, in order, although every reconnect replayed recent chats.
    assert [g for g in got if g in set(s.sent)] == s.sent
    strays = Counter(got) - Counter(s.sent)
    # Inner msg_id 2 is a GiftMessage body under the chat method: protobuf parses it
    # leniently into a chat. 5 is the 10 MB chat: within the client's frame limit, so it
    # is published (see docs/reliability.md). Nothing else, and nothing twice.
    assert set(strays) <= {"2", "5"} and all(n == 1 for n in strays.values())


async def test_half_open_socket_is_detected_and_replaced(
    mosquitto: Mosquitto, sim: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    """No frames, no close, heartbeats unanswered: stale detection (stale_after_s) must
    notice and reconnect; the chats after it arrive once."""
    room = sim.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, sim, tmp_path / "state", "- alice\n"), tmp_path)
    async with running(cfg):
        await room.wait_entered(1, 20)
        s = Stream(room, rec)
        await s.chats()
        records = len(room.records)
        room.half_open(True)
        await s.reconnected(records)  # within stale_after_s (10 s) plus back-off
        await s.chats()
        assert room.records[records - 1].closed_reason is not None  # the old one was closed
    assert chat_ids(rec, "alice") == s.sent


@pytest.mark.parametrize("status", [400, 200])
async def test_refused_handshake_is_blocked_without_churn(
    status: int, mosquitto: Mosquitto, sim: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    """400 or "200 instead of 101" on the push socket: TikTok is refusing this client.
    Retrying soon deepens the IP's score (docs/protocol.md §7): status blocked, one attempt,
    then quiet."""
    sim.add_user("alice", live=True)
    sim.handshake_status(status)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, sim, tmp_path / "state", "- alice\n"), tmp_path)
    clock = VirtualClock()  # stands still: the first attempt needs no timer
    async with running(cfg, clock):
        blocked = await rec.wait_for("tiktok/alice/state", status_is("blocked"), timeout=20)
        # Ten minutes: hundreds of FAST back-offs (0.2-1 s), still inside the block's
        # 900 s (± 20 %): a hot loop would show here.
        await clock.advance(600.0)
        assert sim.stats.ws_rejected[status] == 1
        assert blocked.json()["live"] is True  # still live on TikTok, we just may not connect
        error = await rec.wait_for(
            "tiktok/bridge/event", lambda x: x.json()["type"] == "watch_error", timeout=10
        )
        assert error.json()["data"]["reason"] == "blocked"
