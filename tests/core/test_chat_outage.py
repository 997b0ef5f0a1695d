"""Chat sending limits (against the simulator's sign server) and broker outages."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from bridge.config import Config
from bridge.service.logging import SecretRedactor
from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from tests.core.support import (
    SECRETS,
    SESSION_ID,
    SIGN_KEY,
    config_yaml,
    make_config,
    running_virtual,
    status_is,
)
from tests.helpers.mosquitto import Mosquitto, MqttRecorder, Subscribe

CHAT_TIKTOK = f"""\
sign_server:
  url: {{sim}}
  api_key: {SIGN_KEY}
  send_session: true
session:
  session_id: {SESSION_ID}
"""

CHAT_STREAMER = """\
- user: alice
  chat_send: {enabled: true, min_interval_s: 60, burst: 2, max_length: 20}
- user: bob
"""


def chat_config(broker: Mosquitto, sim: TikTokSimulator, tmp_path: Path) -> Config:
    """CHAT_STREAMER in sign-server mode, with a session and a sign key (chat allowed)."""
    tiktok = CHAT_TIKTOK.replace("{sim}", sim.endpoints.sign_server)
    text = config_yaml(
        broker, sim, tmp_path / "s", CHAT_STREAMER, extra_tiktok=tiktok, connection="sign_server"
    )
    return make_config(text, tmp_path)


async def send(broker: Mosquitto, topic: str, payload: Any) -> None:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, raw.encode(), qos=1)


async def answer(rec: MqttRecorder, transaction: str) -> dict[str, Any]:
    msg = await rec.wait_for(
        "tiktok/bridge/response/chat/send", lambda x: x.json().get("transaction") == transaction
    )
    return msg.json()  # type: ignore[no-any-return]


async def test_chat_send_limits(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # As in the daemon (run.py): every handler masks the configured secrets. httpx logs the
    # sign server's fetch URL, which carries the session when send_session is on.
    caplog.handler.addFilter(SecretRedactor(SECRETS))
    room = simulator.add_user("alice", live=True)
    simulator.add_user("bob", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    async with running_virtual(chat_config(mosquitto, simulator, tmp_path)):
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        await rec.wait_for("tiktok/bob/state", status_is("connected"))
        # No wait: the sink subscribes (SUBACK awaited) before it publishes any state.
        await send(
            mosquitto, "tiktok/alice/chat/send", {"message": "hi\nthere\x07", "transaction": "c1"}
        )
        first = await answer(rec, "c1")
        await send(mosquitto, "tiktok/alice/chat/send", {"message": "x" * 21, "transaction": "c2"})
        too_long = await answer(rec, "c2")
        await send(mosquitto, "tiktok/bridge/request/chat/send",
                   {"user": "alice", "message": "second", "transaction": "c3"})  # fmt: skip
        second = await answer(rec, "c3")
        await send(mosquitto, "tiktok/alice/chat/send", {"message": "third", "transaction": "c4"})
        limited = await answer(rec, "c4")
        await send(mosquitto, "tiktok/bob/chat/send", {"message": "hello", "transaction": "c5"})
        disabled = await answer(rec, "c5")
        await room.wait_for(lambda: len(room.chats_sent) >= 2)
    assert first["status"] == "ok", first
    assert first["data"]["message"] == "hi there"  # newline → space, BEL removed
    assert too_long["status"] == "error" and "too long" in too_long["error"]
    assert second["status"] == "ok"
    assert limited["status"] == "error" and limited["error"].startswith("rate limited, retry in")
    assert disabled["status"] == "error" and "disabled" in disabled["error"]
    assert [c.content for c in room.chats_sent] == ["hi there", "second"]
    # The session and the sign key went to the (simulated) sign server, never to MQTT/logs.
    for secret in SECRETS:
        assert all(secret.encode() not in x.payload for x in rec.messages)
        assert secret not in caplog.text


async def test_not_live_chat_is_refused(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=False)
    simulator.add_user("bob", live=False)
    rec = await subscriber(mosquitto, "tiktok/#")
    async with running_virtual(chat_config(mosquitto, simulator, tmp_path)):
        await rec.wait_for("tiktok/alice/state", status_is("waiting_for_live"))
        # No wait: the sink subscribes (SUBACK awaited) before it publishes any state.
        await send(mosquitto, "tiktok/alice/chat/send", {"message": "anyone?", "transaction": "n"})
        refused = await answer(rec, "n")
    assert refused == {"status": "error", "data": {}, "error": "not live", "transaction": "n"}


async def test_events_during_broker_outage_are_delivered(
    mosquitto_factory: Callable[..., Mosquitto],
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
) -> None:
    # The late subscriber keeps a session on the broker across its restart, so a chat the
    # bridge publishes the moment it is back cannot slip past it (it used to, when the
    # bridge reconnected before the subscriber had subscribed again).
    broker = mosquitto_factory(persistence=True, extra_config="queue_qos0_messages true")
    session = {"identifier": "late-sub", "clean_session": False}
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(broker, "tiktok/#", **session)
    cfg = make_config(config_yaml(broker, simulator, tmp_path / "s", "- alice\n"), tmp_path)
    async with running_virtual(cfg) as bridge:
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        await rec.stop()
        broker.stop()  # the session is saved; the retained viewers value is not 42 yet
        room.push(m.chat("ann", "during the outage"), m.viewers(42, 50))
        await room.wait_for(lambda: room.viewers == 42)
        await asyncio.sleep(0.3)  # the bridge read it while the broker was away
        assert not bridge.sink.connected
        broker.start()
        late = await subscriber(broker, "tiktok/#", **session)
        chat = await late.wait_for("tiktok/alice/chat", timeout=30)
        # Retained state converged to what happened during the outage: re-published.
        viewers = await late.wait_for("tiktok/alice/viewers", lambda x: x.payload == b"42")
        state = await late.wait_for("tiktok/alice/state", lambda x: x.json()["viewers"] == 42)
        online = await late.wait_for("tiktok/bridge/state", lambda x: x.text == "online")
        # The TikTok connection was never interrupted by the MQTT outage.
        assert len(room.records) == 1
        later = await subscriber(broker, "tiktok/alice/#")
        kept = await later.wait_for("tiktok/alice/viewers")
    assert chat.json()["text"] == "during the outage" and not chat.retain
    assert viewers.payload == kept.payload == b"42" and kept.retain
    assert state.json()["status"] == "connected" and online.text == "online"


async def test_stale_events_are_dropped_after_outage(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    text = config_yaml(mosquitto, simulator, tmp_path / "s", "- alice\n")
    text = text.replace(
        "  client_id: bridge-under-test\n", "  client_id: b\n  max_event_age_s: 1\n"
    )
    async with running_virtual(make_config(text, tmp_path)) as bridge:
        await rec.wait_for("tiktok/alice/state", status_is("connected"))
        await rec.stop()
        mosquitto.stop()
        room.push(m.chat("ann", "too old to matter"), m.like("dan", 3, 33))
        await asyncio.sleep(2.0)  # older than max_event_age_s (1 s) before the broker returns
        mosquitto.start()
        late = await subscriber(mosquitto, "tiktok/#")
        await late.wait_for("tiktok/alice/state", lambda x: x.json()["likes"] == 33, timeout=30)
        await late.wait_for("tiktok/bridge/state", lambda x: x.text == "online")
        await asyncio.sleep(0.3)
        dropped = bridge.sink.stats.dropped_stale
    assert late.on("tiktok/alice/chat") == []
    assert dropped >= 1
