"""Supervision against the simulator: silent sockets, rate limits, sign-server
outages, blocks, the shared call budget, reloads, and the politeness rules (fast re-poll
after a stream end, hourly reconnect cap, unconfirmed "user not found").

Time is never measured for speed: the tests count requests in the simulator's request log
and check their order. Most run the bridge on a virtual clock (tests/helpers/clock.py):
time flows while they wait for real messages, and an absence check jumps the clock to just
short of the configured delay it protects instead of sleeping. Four stay on real time,
because what they check is real time: the budget's spread of calls and a rate limit's
retry_at against the simulator's request stamps, HTTP timeouts of a hung sign server, and
a test that must react between two retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bridge.clock import VirtualClock
from bridge.config import Config
from bridge.core.streamer import Backoff
from bridge.sim import SimConfig, TikTokSimulator
from bridge.sim import messages as m
from bridge.sim.records import RequestRecord
from bridge.sim.rooms import OFFLINE
from tests.core.support import (
    FAST,
    config_yaml,
    events_on,
    make_config,
    running,
    running_virtual,
    status_is,
)
from tests.helpers.clock import flowing
from tests.helpers.mosquitto import Mosquitto, MqttRecorder, Subscribe

ALICE = "- alice\n"


@pytest_asyncio.fixture
async def simulator() -> AsyncIterator[TikTokSimulator]:
    """The shared fixture's simulator, but announcing a ping interval (1 s) below its
    heartbeat timeout (5 s): these tests keep sockets open longer than 5 s and must not
    see the server drop them for "missing" heartbeats."""
    async with TikTokSimulator(config=SimConfig(heartbeat_timeout_s=5.0, ping_interval_s=1)) as sim:
        yield sim


def sup(**changes: Any) -> Any:
    return dataclasses.replace(FAST, **changes)


def config(
    broker: Mosquitto,
    sim: TikTokSimulator,
    tmp_path: Path,
    streamers: str = ALICE,
    supervisor: Any = FAST,
    **kw: Any,
) -> Config:
    text = config_yaml(broker, sim, tmp_path / "state", streamers, **kw)
    return make_config(text, tmp_path, supervisor)


def unix(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def requests(sim: TikTokSimulator, prefix: str = "") -> list[RequestRecord]:
    return [r for r in sim.stats.requests if r.path.startswith(prefix)]


def bridge_events(rec: MqttRecorder, kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events_on(rec, "tiktok/bridge/event") if e["type"] == kind]


def is_event(kind: str) -> Any:
    return lambda msg: bool(msg.payload) and msg.json()["type"] == kind


def live_values(rec: MqttRecorder, user: str = "alice") -> list[str]:
    return [msg.text for msg in rec.on(f"tiktok/{user}/live")]


async def wait_until(predicate: Callable[[], bool], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - the request log has no change signal
            await asyncio.sleep(0.05)


# ----------------------------------------------------------------------------- back-off


class _Highest(random.Random):
    """An rng whose uniform() always returns the ceiling: makes the back-off visible."""

    def uniform(self, a: float, b: float) -> float:
        return b


class _Lowest(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


def test_backoff_doubles_up_to_the_cap_and_never_hits_zero() -> None:
    backoff = Backoff(0.5, 4.0, rng=_Highest())
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5
    lowest = Backoff(0.5, 4.0, rng=_Lowest())
    assert lowest.next_delay() == 0.5  # the floor: full jitter never means "retry at once"


# ----------------------------------------------------------------------------- silent socket


async def test_silent_socket_of_a_live_room_is_reconnected(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = config(mosquitto, simulator, tmp_path, supervisor=sup(silent_check_s=1.5))
    clock = VirtualClock()
    async with running(cfg, clock), flowing(clock):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.half_open(True)  # the socket stays open, nothing arrives any more
        await room.wait_for(lambda: len(room.records) >= 2 and bool(room.entered_connections()))
        assert simulator.stats.http_requests["/webcast/room/info/"] >= 2  # start + re-check
        room.push(m.chat("ann", "still here"))
        chat = await rec.wait_for("tiktok/alice/chat")

    assert chat.json()["text"] == "still here"
    assert room.records[0].closed_reason == "client"  # the bridge gave up the zombie socket
    assert bridge_events(rec, "stream_ended") == []  # a live room: not a stream end
    assert "OFF" not in live_values(rec)[live_values(rec).index("ON") :]


async def test_silent_socket_of_an_ended_room_ends_the_stream(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = config(mosquitto, simulator, tmp_path, supervisor=sup(silent_check_s=1.5))
    clock = VirtualClock()
    async with running(cfg, clock), flowing(clock):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        room.half_open(True)
        room.status = OFFLINE  # ended without a control message and without closing
        ended = await rec.wait_for("tiktok/bridge/event", is_event("stream_ended"))
        await rec.wait_for("tiktok/alice/live", lambda msg: msg.text == "OFF")
        stream = await rec.wait_for(
            "tiktok/alice/stream", lambda msg: msg.json()["event_type"] == "ended"
        )

    assert ended.json()["data"]["reason"] == "offline"
    assert stream.json()["reason"] == "offline"
    assert len(room.records) == 1  # not live any more: no reconnect


# ----------------------------------------------------------------------------- rate limit


async def test_rate_limit_is_honoured_until_retry_at_then_recovers(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=True)
    simulator.rate_limit(2)  # 429 + RateLimit-Reset on the sign server
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = config(mosquitto, simulator, tmp_path, connection="sign_server")
    async with running(cfg):
        limited = await rec.wait_for("tiktok/alice/state", status_is("rate_limited"))
        watch_error = await rec.wait_for("tiktok/bridge/event", is_event("watch_error"))
        await rec.wait_for("tiktok/alice/state", status_is("connected"), timeout=20)

    retry_at = unix(limited.json()["retry_at"])
    log = list(simulator.stats.requests)
    first_429 = next(i for i, r in enumerate(log) if r.status == 429)
    later = log[first_429 + 1 :]
    assert later, "it recovered, so calls were made after the limit"
    assert all(r.at >= retry_at for r in later), "a call went out before retry_at"
    assert [r.status for r in log].count(429) == 1
    assert any(r.path == "/webcast/fetch" and r.status == 200 for r in later)
    assert watch_error.json()["data"]["reason"] == "rate_limited"
    assert watch_error.json()["data"]["retry_at"] == limited.json()["retry_at"]


# ----------------------------------------------------------------------------- sign server


async def test_sign_server_errors_back_off_without_a_hot_loop(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=True)
    simulator.faults.sign_server_down = True  # 500 "Empty response payload"
    rec = await subscriber(mosquitto, "tiktok/#")
    supervisor = sup(backoff_initial_s=0.5, backoff_max_s=4.0)
    cfg = config(mosquitto, simulator, tmp_path, supervisor=supervisor, connection="sign_server")
    clock = VirtualClock()
    async with running(cfg, clock) as bridge, flowing(clock):
        await rec.wait_for("tiktok/alice/state", status_is("sign_unavailable"))
        alice = bridge.supervisor("alice")
        depth = [alice.backoff_failures]
        start, started_at = len(requests(simulator, "/webcast/fetch")), clock.monotonic()
        await wait_until(lambda: alice.backoff_failures >= depth[0] + 3)
        calls = len(requests(simulator, "/webcast/fetch")) - start
        elapsed = clock.monotonic() - started_at
        depth.append(alice.backoff_failures)

    # Every retry waits at least backoff_initial_s (a hot loop would make hundreds), and the
    # failures keep deepening the back-off.
    assert 3 <= calls <= elapsed / 0.5 + 1
    assert depth[1] > depth[0] >= 1
    assert {r.status for r in requests(simulator, "/webcast/fetch")} == {500}
    assert "OFF" not in live_values(rec)  # never connected, never declared live either way


@contextlib.asynccontextmanager
async def black_hole() -> AsyncIterator[tuple[str, list[float]]]:
    """An HTTP server that reads requests and never answers (a hung sign server)."""
    seen: list[float] = []
    hold = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            seen.append(asyncio.get_running_loop().time())
            await hold.wait()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        hold.set()
        server.close()


async def test_sign_server_timeouts_are_sign_unavailable_with_back_off(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    async with black_hole() as (url, seen):
        extra = f"http_timeout_s: 1\nsign_server:\n  url: {url}\n"
        supervisor = sup(backoff_initial_s=0.5, backoff_max_s=4.0)
        cfg = config(
            mosquitto,
            simulator,
            tmp_path,
            supervisor=supervisor,
            connection="sign_server",
            extra_tiktok=extra,
        )
        async with running(cfg):
            await rec.wait_for("tiktok/alice/state", status_is("sign_unavailable"), timeout=15)
            error = await rec.wait_for("tiktok/bridge/event", is_event("watch_error"))
            start = len(seen)
            await asyncio.sleep(4.0)
            calls = len(seen) - start

    # Each attempt costs the 1 s timeout plus >= 0.5 s back-off: at most 3 in 4 s.
    assert 1 <= calls <= 3
    assert "timed out" in error.json()["data"]["detail"]
    assert simulator.stats.ws_accepted == 0  # no socket without a signature


# ----------------------------------------------------------------------------- blocked


@pytest.mark.parametrize("fault", ["device_blocked", "handshake_400"])
async def test_blocked_waits_long_without_churn(
    fault: str,
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
) -> None:
    simulator.add_user("alice", live=True)
    if fault == "device_blocked":
        simulator.block_device()  # 415 + Handshake-Msg: DEVICE_BLOCKED
    else:
        simulator.handshake_status(400)
    rec = await subscriber(mosquitto, "tiktok/#")
    # backoff_max_s stays short: a block must use blocked_backoff_s, not the generic cap.
    supervisor = sup(blocked_backoff_s=60.0, backoff_max_s=0.5)
    clock = VirtualClock()  # stands still: the first attempt needs no timer

    def upgrades() -> list[RequestRecord]:
        return [r for r in requests(simulator) if r.path.startswith("/webcast/im/")]

    async with running(config(mosquitto, simulator, tmp_path, supervisor=supervisor), clock):
        await rec.wait_for("tiktok/alice/state", status_is("blocked"))
        error = await rec.wait_for("tiktok/bridge/event", is_event("watch_error"))
        await rec.wait_for("tiktok/alice/availability", lambda msg: msg.text == "offline")
        retry_after = error.json()["data"]["retry_after_s"]  # rounded to the second
        # Just short of the block's wait: a hundred generic back-offs would fit in there.
        await clock.advance(retry_after - 1.0)
        held = len(upgrades())
        await clock.advance(2.0)  # the wait is over: the next attempt goes out
        await wait_until(lambda: len(upgrades()) == 2)

    assert held == 1 and upgrades()[0].status in (400, 415)
    data = error.json()["data"]
    assert data["reason"] == "blocked"
    assert 48 <= data["retry_after_s"] <= 72  # 60 s ± 20 % jitter


# ----------------------------------------------------------------------------- budget


async def test_cold_start_is_staggered_and_within_the_shared_budget(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    users = [f"user{i}" for i in range(10)]
    rooms = [simulator.add_user(u, live=True) for u in users]
    rec = await subscriber(mosquitto, "tiktok/+/state")
    # 120 calls/min = 2 per second, a burst of 30; 10 streamers need about 40 calls.
    supervisor = sup(calls_per_minute=120, cold_start_stagger_s=0.1)
    streamers = "".join(f"- {u}\n" for u in users)
    cfg = config(mosquitto, simulator, tmp_path, streamers, supervisor=supervisor)
    async with running(cfg) as bridge:
        for user in users:
            await rec.wait_for(f"tiktok/{user}/state", status_is("connected"), timeout=40)
        budget_calls = sum(bridge.budget.calls.values())

    log = list(simulator.stats.requests)
    assert all(room.records for room in rooms)
    assert len(log) == budget_calls  # no call bypassed the budget
    t0 = log[0].at
    for window in (0.25, 0.5, 1.0, 2.0, 4.0):
        within = sum(1 for r in log if r.at < t0 + window)
        assert within <= 30 + 2 * window + 1, (window, within)
    assert len(log) > 30  # the burst alone was not enough: the budget had to spread them
    first_poll = [next(i for i, r in enumerate(log) if r.path == f"/@{u}/live") for u in users]
    assert first_poll == sorted(first_poll)  # cold start in configuration order


# ----------------------------------------------------------------------------- reload


async def test_reload_updates_one_streamer_and_leaves_the_others_connected(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    rooms = {u: simulator.add_user(u, live=True) for u in ("alice", "bob", "cem")}
    rec = await subscriber(mosquitto, "tiktok/#")
    before = "- alice\n- bob\n- cem\n"
    after = (
        "- user: alice\n  events: [chat, gift, member]\n  gift_tiers: {tiny: 1, huge: 500}\n"
        "- bob\n- cem\n"
    )
    async with running_virtual(config(mosquitto, simulator, tmp_path, before)) as bridge:
        for user in rooms:
            await rec.wait_for(f"tiktok/{user}/state", status_is("connected"))
        rooms["alice"].push(m.member("early"))  # not enabled yet: not even parsed
        alice = bridge._watched["alice"].supervisor
        await wait_until(
            lambda: alice._processor is not None and alice._processor.stats.skipped >= 1
        )
        await bridge.reload(config(mosquitto, simulator, tmp_path, after))
        rooms["alice"].push(m.member("late"), m.gift("gus", 9999, "Universe", 1200, 2))
        rooms["bob"].push(m.gift("hal", 9999, "Universe", 1200, 2))
        member = await rec.wait_for("tiktok/alice/member")
        alice_gift = await rec.wait_for("tiktok/alice/gift")
        bob_gift = await rec.wait_for("tiktok/bob/gift")
        info = bridge.info()

    assert member.json()["user"]["unique_id"] == "late"
    assert alice_gift.json()["event_type"] == "gift_huge"  # the new tiers apply at once
    assert bob_gift.json()["event_type"] == "gift_large"
    # Nobody reconnected: one socket per room, all opened before the reload.
    for user, room in rooms.items():
        assert len(room.records) == 1, user
        assert room.records[0].closed_reason in (None, "client"), user
    assert info["restart_required"] is False


# ----------------------------------------------------------------------------- politeness


async def test_after_a_stream_end_a_few_faster_polls_then_the_normal_interval(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    supervisor = sup(live_poll_interval_s=60.0, ended_poll_interval_s=1.0, ended_polls=2)
    clock = VirtualClock()

    def polls() -> int:
        return len(requests(simulator, "/@alice/live"))

    async with running(config(mosquitto, simulator, tmp_path, supervisor=supervisor), clock):
        async with flowing(clock):
            await rec.wait_for("tiktok/alice/state", status_is("connected"))
            # A restart right after the end is noticed by the burst, not after 60 s.
            room.end()
            ended_at = polls()
            await wait_until(lambda: polls() > ended_at)
            room.go_live()
            await room.wait_entered(1, within=20)
            # Ended for good: exactly `ended_polls` quick polls, then silence until 60 s.
            room.end()
            ended_at = polls()
            await wait_until(lambda: polls() >= ended_at + 2)
        await clock.advance(30.0)  # far beyond the quick polls, half the normal interval
        burst = polls() - ended_at

    assert burst == 2
    assert len(room.records) == 2
    assert len(bridge_events(rec, "stream_started")) == 2


async def test_reconnects_are_capped_per_hour(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    supervisor = sup(max_reconnects_per_hour=3, backoff_max_s=60.0)
    clock = VirtualClock()
    async with running(config(mosquitto, simulator, tmp_path, supervisor=supervisor), clock):
        async with flowing(clock):
            for attempt in range(1, 4):
                await room.wait_for(lambda: len(room.entered_connections()) == 1)
                assert len(room.records) == attempt
                room.drop_connections()
            error = await rec.wait_for(
                "tiktok/bridge/event",
                lambda msg: (
                    msg.json()["type"] == "watch_error"
                    and msg.json()["data"]["reason"] == "reconnect_limited"
                ),
            )
            await rec.wait_for("tiktok/alice/state", status_is("reconnect_limited"))
        await clock.advance(55.0)  # within backoff_max_s of the capped attempt
        connections = len(room.records)

    assert connections == 3
    data = error.json()["data"]
    assert "cap 3" in data["detail"] and data["retry_after_s"] == 60
    assert bridge_events(rec, "stream_ended") == []  # still live; only the bridge holds back


async def test_user_not_found_while_live_is_transient_until_confirmed(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    room_id = room.room_id
    rec = await subscriber(mosquitto, "tiktok/#")
    # backoff 1 s exactly (the floor): the retries are spaced, so the test can react.
    supervisor = sup(backoff_initial_s=1.0, backoff_max_s=1.0, not_found_confirmations=3)
    async with running(config(mosquitto, simulator, tmp_path, supervisor=supervisor)):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        simulator.remove_user("alice")  # sockets dropped, "user_not_found" from now on
        await wait_until(lambda: len(requests(simulator, "/api-live/")) >= 1)
        simulator.add_user("alice", live=True, room_id=room_id)  # TikTok recovers
        await rec.wait_for("tiktok/alice/state", status_is("connected"), timeout=20)
        misses = len(requests(simulator, "/api-live/"))

    assert misses == 1
    statuses = [msg.json()["status"] for msg in rec.on("tiktok/alice/state") if msg.payload]
    assert "not_found" not in statuses and "error" in statuses
    assert bridge_events(rec, "stream_ended") == []
    assert live_values(rec)[-1] == "ON" and len(bridge_events(rec, "stream_started")) == 1


async def test_user_not_found_confirmed_ends_the_stream(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    supervisor = sup(backoff_initial_s=1.0, backoff_max_s=1.0, not_found_confirmations=3)
    clock = VirtualClock()
    cfg = config(mosquitto, simulator, tmp_path, supervisor=supervisor)
    async with running(cfg, clock), flowing(clock):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        simulator.remove_user("alice")
        await rec.wait_for("tiktok/alice/state", status_is("not_found"), timeout=20)
        lookups = len(requests(simulator, "/api-live/"))
        ended = await rec.wait_for("tiktok/bridge/event", is_event("stream_ended"))

    assert lookups == 3  # believed only at the third "user not found" in a row
    assert ended.json()["data"]["reason"] == "not_found"
    assert live_values(rec)[-1] == "OFF"


# ----------------------------------------------------------------------------- crashes


async def test_a_crashed_streamer_is_reported_and_restarted_while_the_others_keep_going(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rooms = {u: simulator.add_user(u, live=True) for u in ("alice", "bob")}
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = config(
        mosquitto, simulator, tmp_path, "- alice\n- bob\n", supervisor=sup(backoff_initial_s=0.5)
    )
    async with running_virtual(cfg) as bridge:
        for user in rooms:
            await rec.wait_for(f"tiktok/{user}/state", status_is("connected"))
        alice = bridge.supervisor("alice")
        loop_once = alice._run_once
        faults = 0

        async def faulty() -> None:  # a bug in alice's loop, once
            nonlocal faults
            if faults == 0:
                faults += 1
                raise RuntimeError("injected fault 0xC0FFEE")
            await loop_once()

        monkeypatch.setattr(alice, "_run_once", faulty)
        rooms["alice"].drop_connections()  # alice's loop turns: the fault fires
        crashed = await rec.wait_for("tiktok/bridge/event", is_event("streamer_crashed"))
        # (the dropped socket itself was an `error` too, with another reason)
        state = await rec.wait_for(
            "tiktok/alice/state",
            lambda msg: (msg.json()["reason"] or "").startswith("crashed"),
        )
        rooms["bob"].push(m.chat("carol", "still here"))
        chat = await rec.wait_for("tiktok/bob/chat")
        await rooms["alice"].wait_for(lambda: len(rooms["alice"].entered_connections()) == 1)
        await wait_until(lambda: rec.on("tiktok/alice/state")[-1].json()["status"] == "connected")
        alive, crashes = bridge.alive, bridge.crashes("alice")

    data = crashed.json()["data"]
    assert data == {
        "streamer": "alice",
        "reason": "crashed, restarting: internal error: RuntimeError (see the log)",
        "restart_in_s": 0.5,
    }
    assert state.json()["status"] == "error" and state.json()["reason"] == data["reason"]
    assert "0xC0FFEE" not in crashed.text + state.text  # the exception's text stays in the log
    logged = [r for r in caplog.records if r.exc_info and "0xC0FFEE" in str(r.exc_info[1])]
    assert [r.getMessage() for r in logged] == ["streamer-alice crashed; restart in 0.5 s"]
    assert chat.json()["text"] == "still here"
    assert len(rooms["bob"].records) == 1  # bob never noticed
    assert len(rooms["alice"].records) == 2  # alice came back after the restart
    assert alive and crashes == 1
