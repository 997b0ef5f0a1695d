"""Why a streamer is not watched, in words: ``reason`` in ``<user>/state`` (and HA's Status
sensor), INFO logs at connect and stream end, and ``state`` published only when it changed."""

from __future__ import annotations

import logging
import socket
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.core.publish import StreamerPublisher
from bridge.events import ChatEvent, LikeEvent
from bridge.mqtt.discovery import streamer_device
from bridge.mqtt.payloads import PayloadLike
from bridge.mqtt.topics import Topics
from bridge.settings.mqtt import HomeAssistantSettings
from bridge.settings.streamer import StreamerSettings
from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from bridge.tiktok import errors
from tests.core.support import config_yaml, make_config, running_virtual, status_is
from tests.helpers.mosquitto import Mosquitto, Subscribe, free_port

# ------------------------------------------------------------------------- the words


def _chained(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("inner", "cause"),
    [
        (socket.gaierror(-2, "Name or service not known"), "name resolution failed"),
        (ConnectionRefusedError(111, "refused"), "connection refused"),
        (ssl.SSLCertVerificationError("bad cert"), "TLS certificate not trusted"),
        (TimeoutError(), "connection timed out"),
        (OSError(101, "Network is unreachable"), "network unreachable"),
    ],
)
def test_network_cause_reads_the_wrapped_os_error(inner: BaseException, cause: str) -> None:
    wrapped = _chained(httpx.ConnectError("All connection attempts failed"), inner)
    assert errors.network_cause(wrapped) == cause
    error = errors.Unreachable("api-live/user/room", errors.network_cause(wrapped))
    assert error.reason == f"cannot reach TikTok: {cause}"
    assert error.status == "error" and str(error) == f"api-live/user/room: {cause}"


def test_network_cause_never_repeats_a_message() -> None:
    # A proxy error's text may hold the proxy URL with its password: only fixed words leave.
    class ProxyError(Exception):
        pass

    assert errors.network_cause(ProxyError("http://u:secret@proxy:3128 refused")) == (
        "the proxy refused or failed the connection"
    )
    assert errors.network_cause(ValueError("http://u:secret@x")) == "ValueError"


def test_every_error_class_has_a_reason_for_people() -> None:
    assert errors.Blocked("live page: HTTP 403 (blocked)").reason == (
        "TikTok blocked the request (captcha, IP or device block): live page: HTTP 403 (blocked)"
    )
    assert errors.RateLimited("sign server fetch: HTTP 429").reason.startswith("rate limited: ")
    assert errors.describe(RuntimeError("boom")) == "internal error: RuntimeError (see the log)"
    for cls in (errors.UserNotFound, errors.AgeRestricted, errors.SignServerUnavailable,
                errors.SessionExpired, errors.ConnectionLost):  # fmt: skip
        assert cls("detail").reason.endswith(": detail") and cls.summary


# ------------------------------------------------------------------------- end to end


def _unreachable_yaml(broker: Mosquitto, sim: TikTokSimulator, state_dir: Path) -> str:
    text = config_yaml(broker, sim, state_dir, "- alice\n")
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    return text.replace(sim.endpoints.www, closed).replace(sim.endpoints.webcast, closed)


async def test_unreachable_tiktok_says_why_in_state(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(_unreachable_yaml(mosquitto, simulator, tmp_path / "s"), tmp_path)
    async with running_virtual(cfg):
        state = await rec.wait_for("tiktok/alice/state", status_is("error"))
    assert state.json()["reason"] == "cannot reach TikTok: connection refused"
    assert rec.on("tiktok/alice/availability")[0].text == "online"  # it may come back


async def test_reason_follows_the_status_and_clears_when_watching_works(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.core.streamer")
    room = simulator.add_user("alice", live=True)
    simulator.faults.captcha = True
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", "- alice\n"), tmp_path)
    async with running_virtual(cfg) as bridge:
        blocked = await rec.wait_for("tiktok/alice/state", status_is("blocked"))
        assert blocked.json()["reason"].startswith("TikTok blocked the request")
        simulator.faults.clear()
        bridge.supervisor("alice").reconnect()
        connected = await rec.wait_for("tiktok/alice/state", status_is("connected"))
        assert connected.json()["reason"] is None
        room.end()
        waiting = await rec.wait_for("tiktok/alice/state", status_is("waiting_for_live"))
        assert waiting.json()["reason"] is None
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert f"alice: connected to the live stream (room {room.room_id})" in infos
    assert "alice: stream ended (ended)" in infos


def test_home_assistant_status_sensor_shows_the_reason() -> None:
    topics = Topics("tiktok")
    device = streamer_device(topics, StreamerSettings(user="alice"), HomeAssistantSettings())
    status = device.components["status"]
    assert status["json_attributes_topic"] == "tiktok/alice/state"
    assert "reason" in status["json_attributes_template"]


# ------------------------------------------------------------------------- coalescing


class _Recorder:
    def __init__(self) -> None:
        self.states: list[Any] = []

    def set_state(self, topic: str, payload: PayloadLike | None, *, qos: int = 1) -> None:
        if topic.endswith("/state") and not topic.endswith("watch/state"):
            self.states.append(payload)

    def publish_event(
        self, topic: str, payload: PayloadLike | None, *, qos: int | None = None
    ) -> None:
        pass


def test_state_is_published_only_when_it_says_something_new() -> None:
    clock = [0.0]
    sink = _Recorder()
    pub = StreamerPublisher(
        sink, Topics("tiktok").streamer("alice"), StreamerSettings(user="alice"),
        bridge_event=lambda kind, data: None, clock=lambda: clock[0],
    )  # fmt: skip
    pub.announce(watching=True)
    pub.set_status("waiting_for_live")  # the same status again: nothing new
    assert len(sink.states) == 1
    env: dict[str, Any] = {"msg_id": 1, "room_id": 7, "create_time_ms": 0}
    for second in range(1, 4):  # chats only move last_event: never a publish of their own
        clock[0] = float(second)
        pub.publish_events([ChatEvent(**{**env, "msg_id": second}, text="hi")])
        pub.flush()
    assert len(sink.states) == 1
    clock[0] = 10.0
    pub.publish_events([LikeEvent(**{**env, "msg_id": 9}, count=3, total=3)])
    pub.flush()
    assert len(sink.states) == 2 and sink.states[-1]["likes"] == 3
    assert sink.states[-1]["last_event"] is not None  # brought up to date by that publish


async def test_push_messages_reach_state_after_a_quiet_start(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    """Live traffic with only chats re-sends no state; a follow does (once)."""
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = make_config(config_yaml(mosquitto, simulator, tmp_path / "s", "- alice\n"), tmp_path)
    async with running_virtual(cfg):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        before = len(rec.on("tiktok/alice/state"))
        room.push(m.chat("ann", "one"), m.chat("bob", "two"))
        await rec.wait_for("tiktok/alice/chat", lambda msg: b"two" in msg.payload)
        room.push(m.follow("fay"))
        await rec.wait_for("tiktok/alice/state", lambda msg: msg.json()["follows"] == 1)
    snapshots = [msg.json() for msg in rec.on("tiktok/alice/state")][before:]
    assert [s["follows"] for s in snapshots[:1]] == [1]
