"""What TikTok changed in 2025-2026 (docs/protocol.md §8), through the daemon: the bridge core
with a real mosquitto and the simulator over real sockets, each simulator switch on and off.

* a stream that ends without a control message turns `live` OFF, by name and by room id,
  in both connection modes, whether `room/check_alive` lies or not, and the bridge does not
  reconnect to the dead room;
* a socket that never delivers a message after entering the room is a failed attempt;
* like totals, like events and like-driven actions follow the room total, not the
  per-viewer counts TikTok caps;
* heartbeats after entering (or before, when configured), the current socket parameters,
  the gift list signed through the sign server.

Nothing here sleeps to show that something did not happen: absence is checked after a
later fact (more polls, more frames delivered) that would have come after it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bridge.clock import VirtualClock
from bridge.config import Config
from bridge.sim import SimConfig, TikTokSimulator
from bridge.sim import messages as m
from tests.core.support import (
    FAST,
    config_yaml,
    events_on,
    make_config,
    running,
    running_virtual,
    status_is,
    validate_events,
)
from tests.helpers.clock import flowing
from tests.helpers.mosquitto import Mosquitto, MqttRecorder, Subscribe

MODES = ("direct", "sign_server")


@pytest_asyncio.fixture
async def simulator() -> AsyncIterator[TikTokSimulator]:
    # Heartbeats every second (announced), so sockets stay up as long as a test needs.
    async with TikTokSimulator(config=SimConfig(heartbeat_timeout_s=5.0, ping_interval_s=1)) as sim:
        yield sim


def config(
    broker: Mosquitto,
    sim: TikTokSimulator,
    tmp_path: Path,
    streamers: str = "- alice\n",
    *,
    extra: str = "",
    silent_check_s: float = 300.0,
    **kw: Any,
) -> Config:
    text = config_yaml(broker, sim, tmp_path / "state", streamers, **kw) + extra
    return make_config(text, tmp_path, dataclasses.replace(FAST, silent_check_s=silent_check_s))


async def wait_until(predicate: Callable[[], bool], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - the request log has no change signal
            await asyncio.sleep(0.05)


def lookups(sim: TikTokSimulator) -> int:
    """Live checks so far: live page, api-live and room info calls."""
    paths = ("/@alice/live", "/api-live/user/room/", "/webcast/room/info/")
    return sum(sim.stats.http_requests[p] for p in paths)


def bridge_events(rec: MqttRecorder, kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events_on(rec, "tiktok/bridge/event") if e["type"] == kind]


# ------------------------------------------------------------------ 1. silent stream end

SILENT_ENDS = (
    [
        pytest.param(mode, pinned, lies, "dropped", id=f"{mode}-{by}-{alive}-dropped")
        for mode in MODES
        for pinned, by in ((False, "by_name"), (True, "by_room_id"))
        for lies, alive in ((True, "check_alive_lies"), (False, "check_alive_honest"))
    ]
    + [
        pytest.param(mode, pinned, True, "open", id=f"{mode}-{by}-check_alive_lies-open")
        for mode in MODES
        for pinned, by in ((False, "by_name"), (True, "by_room_id"))
    ]
    + [pytest.param("direct", True, True, "closed", id="direct-by_room_id-check_alive_lies-closed")]
)


@pytest.mark.parametrize(("mode", "pinned", "lies", "socket"), SILENT_ENDS)
async def test_a_stream_ending_without_a_control_message_turns_live_off(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    mode: str,
    pinned: bool,
    lies: bool,
    socket: str,
) -> None:
    simulator.config.check_alive_lies = lies
    room = simulator.add_user("alice", live=True)
    streamers = f"- user: alice\n  room_id: {room.room_id}\n" if pinned else "- alice\n"
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = config(mosquitto, simulator, tmp_path, streamers, connection=mode, silent_check_s=1.5)
    clock = VirtualClock()  # silent_check_s and the polls pass in virtual time
    async with running(cfg, clock), flowing(clock):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.push(m.chat("ann", "hello"))
        await rec.wait_for("tiktok/alice/chat")
        room.end_silently(socket)  # the app was killed: no ControlMessage
        await rec.wait_for("tiktok/alice/live", lambda msg: msg.text == "OFF")
        ended = await rec.wait_for(
            "tiktok/alice/stream", lambda msg: msg.json()["event_type"] == "ended"
        )
        await rec.wait_for("tiktok/alice/state", status_is("waiting_for_live"))
        # Two more live checks later, still no new socket: no reconnecting to a dead room.
        checks = lookups(simulator)
        await wait_until(lambda: lookups(simulator) >= checks + 2)

    assert ended.json()["reason"] == "offline"
    assert [e["reason"] for e in bridge_events(rec, "stream_ended")] == ["offline"]
    assert len(room.records) == 1
    assert simulator.stats.http_requests["/webcast/room/check_alive/"] == 0


async def test_a_live_room_after_a_dropped_socket_is_reconnected_not_ended(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    # The immediate live check after a loss says "live": reconnect, `live` stays ON.
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    streamers = f"- user: alice\n  room_id: {room.room_id}\n"
    async with running_virtual(config(mosquitto, simulator, tmp_path, streamers)):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.drop_connections()
        await room.wait_for(lambda: len(room.records) == 2 and bool(room.entered_connections()))
        room.push(m.chat("ann", "back"))
        await rec.wait_for("tiktok/alice/chat")
    assert [msg.text for msg in rec.on("tiktok/alice/live")][-1] == "ON"
    assert bridge_events(rec, "stream_ended") == []


# ------------------------------------------------------------------ 2. a socket that never delivers


@pytest.mark.parametrize("mode", MODES)
async def test_a_socket_that_delivers_nothing_is_a_failed_attempt(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    mode: str,
) -> None:
    simulator.faults.silent_socket = True  # the sign server's September 2026 fallback
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = config(
        mosquitto, simulator, tmp_path, connection=mode, extra_tiktok="first_message_timeout_s: 1\n"
    )
    async with running_virtual(cfg) as bridge:
        failed = await rec.wait_for(
            "tiktok/alice/state",
            lambda msg: bool(msg.payload) and (msg.json()["reason"] or "").startswith("the live"),
        )
        await room.wait_for(lambda: len(room.records) >= 2)  # backed off, then tried again
        alice = bridge.supervisor("alice")
        assert alice.stats.silent_sockets >= 1 and alice.backoff_failures >= 1
        assert bridge.health()["streamers"]["alice"]["silent_sockets"] >= 1
        simulator.faults.silent_socket = False  # the outage is over
        await room.wait_entered()
        room.push(m.chat("ann", "finally"))
        chat = await rec.wait_for("tiktok/alice/chat", timeout=20)

    assert failed.json()["status"] == "error"
    assert failed.json()["reason"] == (
        "the live connection delivered no messages: no message within 1 s of entering the room"
    )
    assert all(r.enter_room for r in room.records)  # every attempt did enter the room
    assert chat.json()["text"] == "finally"
    assert "OFF" not in [msg.text for msg in rec.on("tiktok/alice/live")][-1:]  # never ended
    assert bridge_events(rec, "stream_ended") == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_socket_that_delivers_is_kept_past_the_first_message_deadline(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    mode: str,
) -> None:
    simulator.config.viewer_updates_s = 0.2  # a live room sends its viewer count regularly
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = config(
        mosquitto, simulator, tmp_path, connection=mode, extra_tiktok="first_message_timeout_s: 1\n"
    )
    async with running_virtual(cfg) as bridge:
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        # 10 viewer updates = 2 s on the first socket: twice the deadline, still the same one.
        await room.wait_for(lambda: len(room.records[0].sent_log_ids) >= 10)
        assert len(room.records) == 1 and room.records[0].closed_reason is None
        assert bridge.supervisor("alice").stats.silent_sockets == 0


# ------------------------------------------------------------------ 3. likes

LIKE_RULES = """\
actions:
  rules:
    - name: every-50
      trigger: {type: like, every: 50}
      actions:
        - topic: test/likes/every
          payload: "{{ milestone }}"
    - name: reach-100
      trigger: {type: like, threshold: 100}
      actions:
        - topic: test/likes/threshold
          payload: "{{ milestone }}"
"""


@pytest.mark.parametrize("cap", [15, None], ids=["per_user_capped", "per_user_growing"])
async def test_like_totals_follow_the_room_total(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    cap: int | None,
) -> None:
    simulator.config.like_cap_per_user = cap
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, ["tiktok/#", "test/#"])
    streamers = "- user: alice\n  like_window_ms: 0\n"  # one like event per message
    async with running_virtual(config(mosquitto, simulator, tmp_path, streamers, extra=LIKE_RULES)):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.tap_likes("ann", 100)  # 7 messages of at most 15
        room.tap_likes("bob", 5)
        state = await rec.wait_for("tiktok/alice/state", lambda msg: msg.json()["likes"] == 105)
        await rec.wait_for("tiktok/alice/like", lambda msg: msg.json()["total"] == 105)
        await rec.wait_for("test/likes/every", lambda msg: msg.text == "100")

    likes = events_on(rec, "tiktok/alice/like")
    assert [e["total"] for e in likes] == [15, 30, 45, 60, 75, 90, 100, 105]
    assert sum(e["count"] for e in likes) == (20 if cap else 105)  # informational only
    assert state.json()["likes"] == 105
    assert [msg.text for msg in rec.on("test/likes/every")] == ["50", "100"]
    assert [msg.text for msg in rec.on("test/likes/threshold")] == ["100"]


# ------------------------------------------------------------------ 5. heartbeats, parameters


@pytest.mark.parametrize("strict", [True, False], ids=["early_hb_closes", "early_hb_answered"])
@pytest.mark.parametrize("mode", MODES)
async def test_heartbeats_start_after_entering_the_room(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    mode: str,
    strict: bool,
) -> None:
    simulator.config.early_heartbeat_closes = strict
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    async with running_virtual(config(mosquitto, simulator, tmp_path, connection=mode)):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        await room.wait_for(lambda: len(room.records[0].heartbeats) >= 2)
        room.push(m.chat("ann", "hi"))
        await rec.wait_for("tiktok/alice/chat")

    (record,) = room.records
    sent = [f.payload_type for f in record.frames]
    assert sent[0] == "im_enter_room" and sent.index("hb") == 1
    assert record.heartbeats[:2] == [1, 2]  # send_packet_seq_id from 1
    assert simulator.stats.early_heartbeat_closes == 0
    query = record.query_pairs
    for key, value in (
        ("client_enter", "1"),
        ("sup_ws_ds_opt", "1"),
        ("update_version_code", "2.0.0"),
    ):
        assert (key, value) in query
    assert [v for k, v in query if k == "version_code"] == ["180800", "270000"]
    if mode == "sign_server":
        assert simulator.stats.sign_user_agents == [record.header("User-Agent")]


@pytest.mark.parametrize("strict", [True, False], ids=["early_hb_closes", "early_hb_answered"])
async def test_heartbeat_before_entering_when_configured(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    strict: bool,
) -> None:
    simulator.config.early_heartbeat_closes = strict
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = config(mosquitto, simulator, tmp_path, extra_tiktok="heartbeat_order: before_enter\n")
    async with running_virtual(cfg):
        if strict:  # today's TikTok closes the socket: the attempt fails and is retried
            failed = await rec.wait_for("tiktok/alice/state", status_is("error"))
            await room.wait_for(lambda: len(room.records) >= 2)
        else:
            await rec.wait_for("tiktok/alice/state", status_is("connected"))
            room.push(m.chat("ann", "hi"))
            await rec.wait_for("tiktok/alice/chat")

    first = room.records[0]
    assert [f.payload_type for f in first.frames][:2] == ["hb", "im_enter_room"]
    assert first.heartbeats[0] == 1
    if strict:
        assert first.closed_reason == "early_heartbeat"
        assert "payload_handler_hb" in failed.json()["reason"]


@pytest.mark.parametrize(
    ("mode", "signed_only", "filled"),
    [
        ("sign_server", True, True),  # today: only the signed request gets the list
        ("direct", True, False),  # today, without a sign server: no list, nothing fails
        ("direct", False, True),  # before June 2026: the unsigned request worked
        ("sign_server", False, True),
    ],
)
async def test_gift_details_come_from_the_gift_list(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    mode: str,
    signed_only: bool,
    filled: bool,
) -> None:
    simulator.config.gift_list_signed_only = signed_only
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    async with running_virtual(config(mosquitto, simulator, tmp_path, connection=mode)):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.push(m.gift("ann", "Lion", details=False))  # gift_id only, no gift struct
        gift = (await rec.wait_for("tiktok/alice/gift")).json()

    assert gift["gift"]["id"] == "6369"
    if filled:
        assert (gift["gift"]["name"], gift["diamonds"], gift["event_type"]) == (
            "Lion",
            29999,
            "gift_large",
        )
    else:
        assert (gift["gift"]["name"], gift["diamonds"]) == ("", 0)
    assert gift["final"] is True
    assert simulator.stats.unsigned_refused == (0 if filled else 1)
    signed = [url for url in simulator.stats.sign_urls if "/webcast/gift/list/" in url]
    assert len(signed) == (1 if mode == "sign_server" else 0)
    assert all(t not in url for url in signed for t in ("msToken", "X-Bogus", "X-Gnarly"))


# ------------------------------------------------------------------ 4. message types

NEW_TYPES_EVENTS = (
    "- user: alice\n  events: [chat, super_fan, battle, envelope, subscribe, unknown]\n"
)


@pytest.mark.parametrize("v3", [True, False], ids=["tiktok_2026", "tiktok_2025"])
async def test_new_message_types_through_the_daemon(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    v3: bool,
) -> None:
    simulator.config.v3_messages = v3
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    async with running_virtual(config(mosquitto, simulator, tmp_path, NEW_TYPES_EVENTS)) as bridge:
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        battle_id = 7_350_000_000_000_000_321
        room.push(
            m.super_fan(m.viewer("joao_br", "João")),
            m.level_barrage("ann"),  # an older kind of barrage: stays unknown
            m.battle_card(battle_id, room.owner()),
            m.battle_card(battle_id, room.owner(), card=4, sender="Bob"),
            m.competition(),
            m.in_room_banner(),
            m.chat("ann", "still flowing"),
        )
        await rec.wait_for("tiktok/alice/chat")
        decode_errors = bridge.supervisor("alice").decode_errors

    super_fans = events_on(rec, "tiktok/alice/super_fan")
    cards = [e for e in events_on(rec, "tiktok/alice/battle") if e["event_type"] == "battle_card"]
    unknown = sorted(e["method"] for e in events_on(rec, "tiktok/alice/unknown"))
    assert decode_errors == 0
    validate_events([*super_fans, *cards, *events_on(rec, "tiktok/alice/unknown")])
    if v3:
        (fan,) = super_fans
        assert (fan["text"], fan["user"]["unique_id"]) == ("João became a Super Fan", "joao_br")
        assert [(c["card"]["kind"], c["card"]["anchor_id"]) for c in cards] == [
            ("critical_strike", str(room.user_id)),
            ("award", None),
        ]
        assert cards[1]["card"]["text"] == "Bob got a boosting glove."
        assert unknown == [
            "WebcastBarrageMessage",
            "WebcastCompetitionMessage",
            "WebcastInRoomBannerMessage",
        ]
    else:  # the pre-2026 TikTok sent none of them: only the old barrage arrives
        assert super_fans == [] and cards == []
        assert unknown == ["WebcastBarrageMessage"]
    assert events_on(rec, "tiktok/alice/subscribe") == []
