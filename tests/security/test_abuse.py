"""Viewer-controlled strings (nicknames, unique ids, comments, gift names) with `+`, `#`,
`/`, NUL, control characters, 100 kB lengths and invalid UTF-8 never change a topic and
come out as valid, escaped JSON, cut at MAX_TEXT characters. Every topic seen on `#`
belongs to the expected set."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from bridge.tiktok.frames import MAX_TEXT
from tests.core.support import config_yaml, make_config, running, status_is
from tests.helpers.mosquitto import Mosquitto, Subscribe
from tests.reliability.soak import topic_expected

HOSTILE = [
    "+",
    "#",
    "a/b/c",
    "../../bridge/state",
    "x\x00y",
    "tiktok/alice/live",
    "\u202e\u0007\r\n",
    "é" * 50_000,  # 100 kB of UTF-8
    "$SYS/broker",
]


class FloodQos1(threading.Thread):
    """`count` QoS 1 requests as fast as the broker takes them (paho, own thread)."""

    def __init__(self, broker: Mosquitto, count: int) -> None:
        super().__init__(daemon=True)
        self.count = count
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="flood-qos1")
        self.client.max_inflight_messages_set(100)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def run(self) -> None:
        infos = []
        for n in range(self.count):
            topic = ("tiktok/alice/chat/send", "tiktok/bridge/request/health_check")[n % 2]
            infos.append(self.client.publish(topic, json.dumps({"transaction": n}), qos=1))
        for info in infos:
            info.wait_for_publish(30)
        self.client.disconnect()
        self.client.loop_stop()


async def wait_until(check: Callable[[], bool], within: float) -> None:
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - a counter has no event to wait on
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), within)


def invalid_utf8_chat() -> tuple[str, bytes]:
    """A ChatMessage whose comment bytes are not UTF-8 (protobuf refuses to build one)."""
    good = m.chat("mallory", "PLACEHOLDER")[1]
    return m.CHAT, good.replace(b"PLACEHOLDER", b"\xff\xfe\xc3(bad")


async def test_hostile_strings_never_reach_a_topic(
    mosquitto: Mosquitto, sim: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = sim.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "#")
    cfg = make_config(config_yaml(mosquitto, sim, tmp_path / "s", "- alice\n"), tmp_path)
    async with running(cfg):
        await rec.wait_for("tiktok/alice/state", status_is("connected"), timeout=20)
        for text in HOSTILE:
            user = m.viewer(text[:200] or "x", text)
            room.push(
                m.chat(user, text),
                m.gift(user, 5655, name=text, repeat_end=1),
                m.follow(user),
            )
        room.push(invalid_utf8_chat())
        marker = m.chat("last", "marker")
        room.push(marker)
        marker_id = str(m.common_of(marker[1])[1])
        await rec.wait_for("tiktok/alice/chat", lambda x: x.json()["msg_id"] == marker_id, 20)

    topics = {x.topic for x in rec.messages}
    assert all(topic_expected(t) for t in topics), sorted(
        t for t in topics if not topic_expected(t)
    )
    chats = [x for x in rec.on("tiktok/alice/chat")]
    texts = [x.json()["text"] for x in chats]
    for text in HOSTILE:
        assert text[:MAX_TEXT] in texts  # delivered intact (up to the cap), inside the JSON
    assert max(len(t) for t in texts) == MAX_TEXT  # the 100 kB comment did not travel on
    for x in chats:
        raw = x.payload
        json.loads(raw)  # valid JSON, strict
        assert b"\x00" not in raw and b"\x07" not in raw  # control characters escaped
        raw.decode("utf-8")  # valid UTF-8 on the wire
    gifts = [x.json() for x in rec.on("tiktok/alice/gift")]
    assert {g["gift"]["name"] for g in gifts} >= {"a/b/c", "#", "+"}
    # The invalid-UTF-8 comment was either refused by the decoder (counted) or published
    # as valid UTF-8 — never raw bytes.
    assert all("bad" not in t or t.isprintable() or "\ufffd" in t for t in texts)


async def test_a_command_flood_never_costs_tiktok_events(
    mosquitto_factory: Callable[..., Mosquitto],
    sim: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
) -> None:
    """Issue 11: 20,000 requests in 10 s evicted 891 of 2,000 chats (responses and events
    shared one buffer). Now responses have a lane of their own behind events, and commands
    over the per-topic rate limit are dropped unanswered and counted (mqtt.commands_refused).
    A small event buffer (3 s of chats: room for a busy machine, none for the thousands
    of responses that used to share it) makes any eviction certain to show."""
    # No broker-side queue limit: the bridge receives every request the flooder sends.
    broker = mosquitto_factory(extra_config="max_queued_messages 0")
    room = sim.add_user("alice", live=True)
    rec = await subscriber(broker, "tiktok/#")
    text = config_yaml(broker, sim, tmp_path / "s", "- alice\n").replace(
        "  client_id: bridge-under-test\n", "  client_id: bridge-under-test\n  buffer_size: 300\n"
    )
    requests = 4000
    async with running(make_config(text, tmp_path)) as bridge:
        await rec.wait_for("tiktok/alice/state", status_is("connected"), timeout=20)
        received_before = bridge.sink.stats.received
        flooder = FloodQos1(broker, requests)
        flooder.start()
        sent: list[str] = []
        for i in range(300):  # 100 chats/s while the flood goes on
            item = m.chat(f"viewer{i % 9}", f"chat {i}")
            if room.push(item):
                sent.append(str(m.common_of(item[1])[1]))
            await asyncio.sleep(0.01)
        await asyncio.to_thread(flooder.join, 60)
        # The newest chat always survives (drop-oldest); once it is in, all are or never.
        await rec.wait_for("tiktok/alice/chat", lambda x: x.json()["msg_id"] == sent[-1], 30)
        assert [x.json()["msg_id"] for x in rec.on("tiktok/alice/chat")] == sent  # none lost
        stats = bridge.sink.stats
        await wait_until(lambda: stats.received - received_before == requests, within=60)
        accepted = requests - stats.commands_refused
        await rec.wait_count("tiktok/bridge/response/#", accepted, timeout=60)
        health = bridge.health()["mqtt"]
    assert health["dropped_overflow"] == 0
    assert health["commands_refused"] > 0 and accepted > 0
    # Every request under the limit got its one answer; the refused ones none.
    assert len(rec.on("tiktok/bridge/response/#")) == accepted
