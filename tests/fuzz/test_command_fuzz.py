"""Fuzzed MQTT command payloads sent to a running Bridge over a real broker: every request
gets exactly one response (bad ones an error), nothing escapes as an unhandled exception
(the asyncio exception handler would record it), and the streamers keep being served —
a chat pushed after the barrage arrives."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from tests.core.support import config_yaml, make_config, running, status_is
from tests.helpers.mosquitto import Mosquitto, Subscribe

COMMANDS = [
    "streamer/add",
    "streamer/remove",
    "streamer/reconnect",
    "streamer/watch",
    "simulate",
    "info",
    "health",
    "nonsense",
    "a/b/c",
    "streamer/add/extra",
]
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "user",
                    "type",
                    "watch",
                    "data",
                    "transaction",
                    "text",
                    "count",
                    "gift",
                    "events",
                    "room_id",
                    "x",
                ]
            )
            | st.text(max_size=8),
            inner,
            max_size=5,
        )
    ),
    max_leaves=15,
)
payloads = st.one_of(
    JSONISH.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"",
            b"{",
            b"\xff\xfe",
            b"null",
            b"[]",
            b'{"user": "\\u0000"}',
            b'{"user": "carol", "type": "gift", "data": {"count": -1e308}}',
        ]
    ),
)
# Never name alice (she must keep being served through the barrage) nor bob (removing him
# would unsubscribe his command topics, whose fuzzed commands are counted as answered).
batches = st.lists(
    st.tuples(
        st.sampled_from(COMMANDS),
        payloads.filter(lambda p: b"alice" not in p.lower() and b"bob" not in p.lower()),
    ),
    min_size=5,
    max_size=25,
)


async def _wait_until(check: Any, within: float) -> None:
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - a counter has no event to wait on
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), within)


async def barrage(
    broker: Mosquitto,
    sim: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    examples: int,
) -> None:
    room = sim.add_user("alice", live=True)
    sim.add_user("bob", live=True)
    rec = await subscriber(broker, "tiktok/#")
    cfg = make_config(config_yaml(broker, sim, tmp_path / "s", "- alice\n- bob\n"), tmp_path)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    sent = 0
    async with running(cfg) as bridge:
        await rec.wait_for("tiktok/alice/state", status_is("connected"), timeout=20)

        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
        @given(batches)
        def one(batch: list[tuple[str, bytes]]) -> None:
            nonlocal_batches.append(batch)

        nonlocal_batches: list[list[tuple[str, bytes]]] = []
        one()  # hypothesis generates; the async part below sends them
        async with aiomqtt.Client(broker.host, broker.port) as client:
            for batch in nonlocal_batches:
                for command, payload in batch:
                    await client.publish(f"tiktok/bridge/request/{command}", payload, qos=1)
                    sent += 1
                # Per-streamer command topics take free text too (bob's: alice is the
                # streamer that must be served undisturbed meanwhile).
                await client.publish("tiktok/bob/watch/set", batch[0][1], qos=1)
                await client.publish("tiktok/bob/reconnect", batch[-1][1], qos=1)
                sent += 2  # per-streamer commands are answered on bridge/response too
        # Sent as fast as the broker takes them: more than the per-topic rate limit lets
        # through. Those are dropped unanswered and counted; every other one is answered.
        stats = bridge.sink.stats
        await _wait_until(lambda: stats.received >= sent, 60)
        answered = sent - stats.commands_refused
        await rec.wait_count("tiktok/bridge/response/#", answered, timeout=120)
        await asyncio.sleep(1)  # a second answer to any request would show up by now
        responses = [x.json() for x in rec.on("tiktok/bridge/response/#")]
        assert len(responses) == answered  # exactly one answer per request let in
        assert all(r["status"] in ("ok", "error") for r in responses)
        assert all(r["status"] == "ok" or r.get("error") for r in responses)
        # A reconnect flood cannot make the bridge churn against TikTok (hourly cap).
        if "bob" in bridge.streamers:
            assert bridge.supervisor("bob").stats.connects <= 13
        # Still serving alice, on the connection she had before the barrage.
        assert bridge.supervisor("alice").stats.connects == 1
        await room.wait_entered(1, 30)
        item = m.chat("after", "still here")
        room.push(item)
        msg_id = str(m.common_of(item[1])[1])
        await rec.wait_for("tiktok/alice/chat", lambda x: x.json()["msg_id"] == msg_id, 20)
    assert not unhandled, unhandled[:3]
    assert not [
        x
        for x in rec.messages
        if x.topic.startswith("tiktok/bridge/logging") and b"internal error" in x.payload
    ]


@pytest.mark.timeout(600)
async def test_fuzzed_commands_get_answers_and_the_bridge_keeps_serving(
    mosquitto: Mosquitto, sim: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    await barrage(mosquitto, sim, subscriber, tmp_path, examples=15)


@pytest.mark.slow
@pytest.mark.timeout(3600)
async def test_fuzzed_commands_long_run(
    mosquitto: Mosquitto, sim: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    await barrage(mosquitto, sim, subscriber, tmp_path, examples=300)
