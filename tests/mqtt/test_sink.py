"""MqttSink against a real mosquitto: availability, state convergence, buffering, commands."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest

from bridge.clock import VirtualClock
from bridge.mqtt.topics import TopicError
from tests.helpers.mosquitto import Mosquitto, Received, Subscribe
from tests.helpers.tcpproxy import TcpProxy
from tests.mqtt.conftest import WAIT_S, WILL, MakeSink, settings_for

REPO = Path(__file__).resolve().parents[2]


def is_text(expected: str) -> Callable[[Received], bool]:
    return lambda m: m.payload == expected.encode()


async def publish(broker: Mosquitto, topic: str, payload: bytes, *, retain: bool = False) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, payload, qos=1, retain=retain)


async def retained_snapshot(
    subscriber: Subscribe, broker: Mosquitto, topic_filter: str
) -> dict[str, bytes]:
    """What a fresh subscriber gets as retained: the broker's stored state for the filter."""
    marker = "zz/marker"
    rec = await subscriber(broker, [topic_filter, marker])
    await publish(broker, marker, b"1")
    await rec.wait_for(marker)  # retained messages arrive before anything published later
    return {m.topic: m.payload for m in rec.on(topic_filter) if m.retain}


# -- availability --------------------------------------------------------------------------


async def test_online_then_clean_close_publishes_offline_retained(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    rec = await subscriber(mosquitto, "tiktok/#")
    h = await (await make_sink(settings_for(mosquitto))).connected()
    await rec.wait_for(WILL, is_text("online"))
    assert h.connected_calls == 1

    await h.sink.close()
    await h.sink.close()  # idempotent
    await rec.wait_for(WILL, is_text("offline"))
    assert not h.sink.connected
    assert (await retained_snapshot(subscriber, mosquitto, WILL)) == {WILL: b"offline"}


async def test_close_flushes_pending_state_before_offline(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    rec = await subscriber(mosquitto, "tiktok/#")
    h = await (await make_sink(settings_for(mosquitto))).connected()
    h.sink.set_state("tiktok/alice/availability", "offline")
    await h.sink.close()
    await rec.wait_for(WILL, is_text("offline"))
    topics = [m.topic for m in rec.messages]
    assert topics.index("tiktok/alice/availability") < len(topics) - 1
    assert rec.messages[-1].topic == WILL


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from bridge.settings.mqtt import MqttSettings
    from bridge.mqtt.sink import MqttSink

    async def main() -> None:
        sink = MqttSink(MqttSettings(server=sys.argv[1]), will_topic="tiktok/bridge/state")
        task = asyncio.create_task(sink.run())
        await sink.wait_connected()
        print("connected", flush=True)
        await task

    asyncio.run(main())
    """
)


async def test_offline_goes_first_when_the_queue_cannot_drain_in_time(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    """Issue 11: close() used to wait for the whole queue before publishing offline; a
    queue that could not drain in time meant no offline and then a clean DISCONNECT (no
    Will): "online" stayed retained. Now offline is published (and acknowledged) first."""
    proxy = await TcpProxy(mosquitto.port).start()
    h = await (await make_sink(settings_for(proxy.url, event_qos=1))).connected()
    try:
        proxy.delay_s = 0.3  # every PUBACK comes 0.3 s late: 100 events take 30 s
        for n in range(100):
            h.sink.publish_event("tiktok/alice/gift", {"n": n})
        await asyncio.wait_for(h.sink.close(timeout_s=2.0), WAIT_S)
        late = await subscriber(mosquitto, WILL)
        state = await late.wait_for(WILL)
        assert state.retain and state.text == "offline"
    finally:
        await proxy.stop()


async def test_unacknowledged_offline_leaves_without_disconnect_so_the_will_fires(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    proxy = await TcpProxy(mosquitto.port).start()
    rec = await subscriber(mosquitto, WILL)
    h = await (await make_sink(settings_for(proxy.url))).connected()
    try:
        await rec.wait_for(WILL, is_text("online"))
        proxy.swallow_up = True  # nothing we send arrives: not offline, not a DISCONNECT
        await asyncio.wait_for(h.sink.close(timeout_s=1.0), WAIT_S)
        # The broker noticed the connection end without DISCONNECT: it sent the Will.
        await rec.wait_for(WILL, is_text("offline"))
        late = await subscriber(mosquitto, WILL)
        assert (await late.wait_for(WILL)).text == "offline"
    finally:
        await proxy.stop()


async def test_will_announces_offline_when_process_is_killed(
    mosquitto: Mosquitto, subscriber: Subscribe, tmp_path: Path
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    rec = await subscriber(mosquitto, WILL)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(script), mosquitto.url, stdout=asyncio.subprocess.PIPE, env=env
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), WAIT_S)
        assert line.strip() == b"connected"
        await rec.wait_for(WILL, is_text("online"))
        child.send_signal(signal.SIGKILL)  # no close(), no DISCONNECT: only the Will speaks
        assert await asyncio.wait_for(child.wait(), WAIT_S) == -signal.SIGKILL
        await rec.wait_for(WILL, is_text("offline"))
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert (await retained_snapshot(subscriber, mosquitto, WILL)) == {WILL: b"offline"}


# -- retained state ------------------------------------------------------------------------


async def test_state_converges_after_broker_restart_without_persistence(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    h = await (await make_sink(settings_for(mosquitto))).connected()
    h.sink.set_state("tiktok/alice/live", "ON")
    h.sink.set_state("tiktok/alice/viewers", 10)
    h.sink.set_state("tiktok/alice/viewers", 12)  # coalesced: only the latest matters
    rec = await subscriber(mosquitto, "tiktok/alice/#")
    await rec.wait_for("tiktok/alice/viewers", is_text("12"))

    mosquitto.restart()  # the broker forgot every retained message
    await h.wait_until(lambda: h.sink.stats.reconnects == 1)
    await h.connected()
    h.sink.set_state("tiktok/alice/viewers", 13)  # a change during the outage/reconnect
    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)

    snapshot = await retained_snapshot(subscriber, mosquitto, "tiktok/#")
    assert snapshot == {
        WILL: b"online",
        "tiktok/alice/live": b"ON",
        "tiktok/alice/viewers": b"13",
    }
    assert h.connected_calls == 2  # the core re-announces discovery on each connect


async def test_clear_state_removes_retained_topic(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    h = await (await make_sink(settings_for(mosquitto))).connected()
    h.sink.set_state("tiktok/alice/state", {"live": True})
    h.sink.set_state("tiktok/bob/state", {"live": False})
    h.sink.clear_state("tiktok/alice/state")
    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)
    snapshot = await retained_snapshot(subscriber, mosquitto, "tiktok/+/state")
    assert snapshot == {WILL: b"online", "tiktok/bob/state": b'{"live":false}'}

    mosquitto.restart()  # a forgotten state is not re-published after reconnect
    await h.wait_until(lambda: h.sink.stats.reconnects == 1)
    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)
    snapshot = await retained_snapshot(subscriber, mosquitto, "tiktok/+/state")
    assert snapshot == {WILL: b"online", "tiktok/bob/state": b'{"live":false}'}


async def test_forgotten_state_stays_on_the_broker_and_is_not_sent_again(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    # A streamer that moved to another instance (docs/cluster.md): its last values stay,
    # but a reconnect of the old owner must not overwrite the new owner's.
    h = await (await make_sink(settings_for(mosquitto))).connected()
    h.sink.set_state("tiktok/alice/state", {"live": True})
    h.sink.set_state("tiktok/bob/state", {"live": False})
    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)
    h.sink.forget("tiktok/alice/state")
    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)
    snapshot = await retained_snapshot(subscriber, mosquitto, "tiktok/+/state")
    assert snapshot["tiktok/alice/state"] == b'{"live":true}'  # not cleared

    mosquitto.restart()  # the broker forgot every retained message
    await h.wait_until(lambda: h.sink.stats.reconnects == 1)
    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)
    snapshot = await retained_snapshot(subscriber, mosquitto, "tiktok/+/state")
    assert snapshot == {WILL: b"online", "tiktok/bob/state": b'{"live":false}'}


async def test_retain_disabled_publishes_nothing_retained(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    rec = await subscriber(mosquitto, "tiktok/#")
    h = await (await make_sink(settings_for(mosquitto, retain=False))).connected()
    h.sink.set_state("tiktok/alice/live", "ON")
    await rec.wait_for("tiktok/alice/live", is_text("ON"))
    assert (await retained_snapshot(subscriber, mosquitto, "tiktok/#")) == {}


# -- events --------------------------------------------------------------------------------


async def test_events_buffered_during_outage_are_delivered_after_return(
    mosquitto_factory: Callable[..., Mosquitto], subscriber: Subscribe, make_sink: MakeSink
) -> None:
    # A persistent subscriber session the broker keeps across its restart: the sink may
    # be back before our subscriber, and a non-retained event must not race past it.
    broker = mosquitto_factory(persistence=True, extra_config="queue_qos0_messages true")
    session = {"identifier": "outage-rec", "clean_session": False}
    await subscriber(broker, "tiktok/alice/#", **session)
    h = await (await make_sink(settings_for(broker))).connected()
    broker.stop()  # SIGTERM: the session is saved
    await h.wait_until(lambda: not h.sink.connected)
    for n in range(5):
        h.sink.publish_event("tiktok/alice/gift", {"n": n})
    assert h.sink.stats.queued == 5

    broker.start()
    rec = await subscriber(broker, "tiktok/alice/#", **session)
    got = await rec.wait_count("tiktok/alice/gift", 5)
    assert [m.json()["n"] for m in got] == [0, 1, 2, 3, 4]
    assert not any(m.retain for m in got)
    assert h.sink.stats.dropped_stale == 0 and h.sink.stats.dropped_overflow == 0
    assert h.sink.stats.reconnects == 1


class _Slowest(random.Random):
    """Full jitter picks no wait the first time (the sink tries at once and finds the
    broker gone), then always the longest: the back-off at its worst."""

    calls = 0

    def uniform(self, a: float, b: float) -> float:
        self.calls += 1
        return a if self.calls == 1 else b


async def test_back_as_soon_as_the_broker_accepts_whatever_the_back_off(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    """Issue 11: the back-off (up to 60 s) outlived max_event_age_s, so events that were
    fresh when the broker returned went stale in the buffer. While the port refuses, a
    cheap probe ends the wait as soon as it accepts again."""
    h = await make_sink(
        settings_for(mosquitto), reconnect_min_s=600, reconnect_max_s=600, rng=_Slowest()
    )
    await h.connected()
    mosquitto.kill()
    await h.wait_until(lambda: h.sink.stats.connect_failures == 1)  # now waiting 600 s
    h.sink.publish_event("tiktok/alice/gift", {"n": "during"})
    mosquitto.start()
    rec = await subscriber(mosquitto, "tiktok/alice/#")
    h.sink.publish_event("tiktok/alice/gift", {"n": "after"})
    # Within the usual bound of a wait, although the back-off asked for 600 s.
    await rec.wait_for("tiktok/alice/gift", lambda m: m.json()["n"] == "after")
    assert h.sink.stats.reconnects == 1


async def test_age_is_judged_when_the_broker_came_back_not_when_the_backlog_drained(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    """An event younger than max_event_age_s when the broker returned is sent even if the
    reconnection itself (here a slow CONNACK) pushes its age past the limit."""
    proxy = await TcpProxy(mosquitto.port).start()
    rec = await subscriber(mosquitto, "tiktok/alice/#")
    h = await (await make_sink(settings_for(proxy.url, max_event_age_s=1.0))).connected()
    try:
        await proxy.stop()  # the broker is unreachable
        await h.wait_until(lambda: not h.sink.connected)
        h.sink.publish_event("tiktok/alice/gift", {"n": "fresh at return"})
        await asyncio.sleep(0.2)
        proxy.delay_s = 1.5  # back, but every answer (the CONNACK first) comes 1.5 s late
        await proxy.start()
        await rec.wait_for("tiktok/alice/gift", lambda m: m.json()["n"] == "fresh at return")
        assert h.sink.stats.dropped_stale == 0
    finally:
        proxy.delay_s = 0
        await proxy.stop()


async def test_qos1_event_is_sent_again_when_its_puback_was_lost(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    """The honest contract of QoS 1 (docs/reliability.md): at least once. The broker took
    the event and forwarded it, its PUBACK died with the connection, so the sink cannot
    know and publishes it again after reconnecting: delivered twice, never lost. (Every
    event carries a msg_id for consumers that need exactly once.)"""
    proxy = await TcpProxy(mosquitto.port).start()
    rec = await subscriber(mosquitto, "tiktok/alice/#")
    h = await (await make_sink(settings_for(proxy.url, event_qos=1))).connected()
    try:
        proxy.swallow = True  # the broker's PUBACK never reaches the sink
        h.sink.publish_event("tiktok/alice/gift", {"n": 1})
        await rec.wait_for("tiktok/alice/gift")  # the broker has it
        assert h.sink.stats.queued == 1  # ... the sink still waits for its PUBACK
        proxy.swallow = False
        proxy.cut()  # the connection dies with the PUBACK
        await rec.wait_count("tiktok/alice/gift", 2)
        await h.wait_until(lambda: h.sink.stats.queued == 0)
        assert [m.json() for m in rec.on("tiktok/alice/gift")] == [{"n": 1}, {"n": 1}]
        assert h.sink.stats.reconnects == 1
    finally:
        await proxy.stop()


async def test_stale_events_are_dropped_and_counted(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    clock = VirtualClock()
    h = await make_sink(settings_for(mosquitto, max_event_age_s=0.2), start=False, clock=clock)
    for n in range(3):
        h.sink.publish_event("tiktok/alice/gift", {"n": n})
    await clock.advance(0.5)  # older than max_event_age_s before any connection exists
    h.sink.publish_event("tiktok/alice/gift", {"n": "fresh"})

    rec = await subscriber(mosquitto, "tiktok/alice/#")
    h.start()
    await rec.wait_for("tiktok/alice/gift", lambda m: m.json()["n"] == "fresh")
    assert [m.json()["n"] for m in rec.on("tiktok/alice/gift")] == ["fresh"]
    assert h.sink.stats.dropped_stale == 3


async def test_never_expiring_events_survive_a_long_outage(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    clock = VirtualClock()
    settings = settings_for(mosquitto, max_event_age_s=0.2, buffer_size=2)
    h = await make_sink(settings, start=False, clock=clock)
    h.sink.publish_event("lamp/set", "OFF", expires=False)
    h.sink.publish_event("tiktok/alice/gift", {"n": "late gift"})
    h.sink.publish_event("tiktok/alice/gift", {"n": "overflow"})  # pushes out the gift, not OFF
    await clock.advance(3600.0)  # every message is now older than max_event_age_s

    rec = await subscriber(mosquitto, "#")
    h.start()
    await rec.wait_for("lamp/set", lambda m: m.text == "OFF")
    await h.sink.wait_idle()
    assert rec.on("tiktok/alice/gift") == []
    assert (h.sink.stats.dropped_stale, h.sink.stats.dropped_overflow) == (1, 1)


async def test_overflow_drops_the_oldest(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    h = await make_sink(settings_for(mosquitto, buffer_size=3), start=False)
    for n in range(5):
        h.sink.publish_event("tiktok/alice/like", {"n": n})
    assert h.sink.stats.dropped_overflow == 2
    assert h.sink.stats.queued == 3

    rec = await subscriber(mosquitto, "tiktok/alice/#")
    h.start()
    got = await rec.wait_count("tiktok/alice/like", 3)
    assert [m.json()["n"] for m in got] == [2, 3, 4]


async def test_paused_broker_never_blocks_callers(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    settings = settings_for(mosquitto, buffer_size=100, event_qos=1, keepalive=5)
    h = await (await make_sink(settings)).connected()
    mosquitto.pause()  # a hung broker: TCP stays up, nothing is acknowledged
    # Sync calls return without awaiting the broker; memory stays bounded by buffer_size.
    for n in range(1000):
        h.sink.publish_event("tiktok/alice/chat", {"n": n})
        h.sink.set_state("tiktok/alice/viewers", n)
    await asyncio.sleep(0)  # the loop itself is not stuck either
    assert len(h.sink._events) <= 100
    assert h.sink.stats.dropped_overflow >= 900

    mosquitto.resume()
    rec = await subscriber(mosquitto, "tiktok/alice/#")
    await rec.wait_for("tiktok/alice/chat", lambda m: m.json()["n"] == 999)
    await rec.wait_for("tiktok/alice/viewers", is_text("999"))


async def test_hung_broker_is_detected_and_left_without_leaking_sockets(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    settings = settings_for(mosquitto, event_qos=1, keepalive=30)
    h = await (await make_sink(settings, timeout_s=0.5)).connected()
    fds_before = len(os.listdir("/proc/self/fd"))
    mosquitto.pause()
    h.sink.publish_event("tiktok/alice/gift", {"n": "during"})  # its PUBACK never comes
    await h.wait_until(lambda: h.sink.stats.connect_failures >= 4)  # CONNACKs never come
    assert not h.sink.connected
    # Each failed attempt closed its socket (at most the current attempt is open); before
    # the fix they piled up until the broker woke and then fought over our client id.
    assert len(os.listdir("/proc/self/fd")) <= fds_before + 1

    mosquitto.resume()
    await h.wait_until(lambda: h.sink.connected)
    rec = await subscriber(mosquitto, "tiktok/#")  # +1 socket, counted below
    h.sink.publish_event("tiktok/alice/gift", {"n": "after"})
    await rec.wait_for("tiktok/alice/gift", lambda m: m.json()["n"] == "after")
    assert h.sink.connected and h.sink.stats.reconnects == 1


async def test_utf8_payload_round_trip(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    rec = await subscriber(mosquitto, "tiktok/#")
    h = await (await make_sink(settings_for(mosquitto))).connected()
    h.sink.subscribe("tiktok/alice/chat/send")
    event = {"comment": 'Hallo 👋🏽 – Ünïcødé 中文 "q"\n', "user": {"nickname": "Zoë 🦄"}}
    h.sink.publish_event("tiktok/alice/chat", event)
    h.sink.set_state("tiktok/alice/title", "Live ✨ ça va")
    chat = await rec.wait_for("tiktok/alice/chat")
    assert chat.json() == event
    assert "👋🏽".encode() in chat.payload and b"\\u" not in chat.payload  # not ASCII-escaped
    assert (await rec.wait_for("tiktok/alice/title")).text == "Live ✨ ça va"

    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)  # subscribed
    await publish(mosquitto, "tiktok/alice/chat/send", "Grüße 🎁".encode())
    await asyncio.wait_for(h.changed.wait(), WAIT_S)
    assert h.messages == [("tiktok/alice/chat/send", "Grüße 🎁".encode(), False)]


# -- commands in ---------------------------------------------------------------------------


async def test_retain_flag_is_passed_to_on_message(
    mosquitto: Mosquitto, make_sink: MakeSink
) -> None:
    await publish(mosquitto, "tiktok/bridge/request/restart", b"stale", retain=True)
    h = await make_sink(settings_for(mosquitto), start=False)
    h.sink.subscribe("tiktok/bridge/request/#")
    await h.start().connected()
    await h.wait_until(lambda: len(h.messages) == 1)
    await publish(mosquitto, "tiktok/bridge/request/health_check", b"{}")
    await h.wait_until(lambda: len(h.messages) == 2)
    assert h.messages == [
        ("tiktok/bridge/request/restart", b"stale", True),
        ("tiktok/bridge/request/health_check", b"{}", False),
    ]
    assert h.sink.stats.received == 2


async def test_oversize_command_is_dropped_and_reported(
    mosquitto: Mosquitto, make_sink: MakeSink
) -> None:
    h = await make_sink(settings_for(mosquitto, max_command_bytes=16), start=False)
    h.sink.subscribe("tiktok/+/chat/send")
    await h.start().connected()
    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)
    await publish(mosquitto, "tiktok/alice/chat/send", b"x" * 17)
    await publish(mosquitto, "tiktok/alice/chat/send", b"x" * 16)
    await h.wait_until(lambda: len(h.messages) == 1)
    assert h.messages == [("tiktok/alice/chat/send", b"x" * 16, False)]
    assert h.oversize == [("tiktok/alice/chat/send", 17, False)]
    assert h.sink.stats.dropped_oversize == 1


async def test_subscriptions_survive_reconnect_and_unsubscribe(
    mosquitto: Mosquitto, make_sink: MakeSink
) -> None:
    h = await make_sink(settings_for(mosquitto), start=False)
    h.sink.subscribe("tiktok/alice/watch/set")
    h.sink.subscribe("tiktok/alice/reconnect")
    await h.start().connected()
    mosquitto.restart()
    await h.wait_until(lambda: h.sink.stats.reconnects == 1)
    await h.connected()
    h.sink.unsubscribe("tiktok/alice/reconnect")
    await asyncio.wait_for(h.sink.wait_idle(), WAIT_S)
    await publish(mosquitto, "tiktok/alice/reconnect", b"PRESS")
    await publish(mosquitto, "tiktok/alice/watch/set", b"OFF")
    await h.wait_until(lambda: len(h.messages) >= 1)
    assert h.messages == [("tiktok/alice/watch/set", b"OFF", False)]


# -- guard, auth, reconnect ----------------------------------------------------------------


@pytest.mark.parametrize(
    "topic", ["tiktok/+/chat", "tiktok/#", "tiktok/a\0b", "tiktok//live", "/tiktok", "tiktok/"]
)
async def test_sink_refuses_unsafe_topics(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink, topic: str
) -> None:
    h = await (await make_sink(settings_for(mosquitto))).connected()
    with pytest.raises(TopicError):
        h.sink.set_state(topic, "x")
    with pytest.raises(TopicError):
        h.sink.publish_event(topic, "x")
    with pytest.raises(TopicError):
        h.sink.clear_state(topic)
    assert not h.sink._dirty and not h.sink._events and h.sink.stats.queued == 0


async def test_wrong_password_keeps_retrying_and_never_logs_it(
    mosquitto_factory: Callable[..., Mosquitto],
    make_sink: MakeSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "Sup3r-S3cret-Pw"
    broker = mosquitto_factory(users={"bridge": secret}, allow_anonymous=False)
    caplog.set_level(logging.DEBUG)
    wrong = f"{secret}-wrong"
    bad = await make_sink(settings_for(broker, user="bridge", password=wrong))
    await bad.wait_until(lambda: bad.sink.stats.connect_failures >= 3)
    assert not bad.sink.connected and bad.sink.stats.reconnects == 0

    good = await (await make_sink(settings_for(broker, user="bridge", password=secret))).connected()
    assert good.sink.connected
    await bad.sink.close()
    await good.sink.close()
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "cannot connect" in logged  # we did log the failures...
    assert secret not in logged  # ...but never the password, right or wrong
    assert secret not in repr(good.sink.settings)


async def test_reconnect_counters_and_backoff_through_outage(
    mosquitto: Mosquitto, make_sink: MakeSink
) -> None:
    h = await (await make_sink(settings_for(mosquitto))).connected()
    mosquitto.stop()
    await h.wait_until(lambda: h.sink.stats.connect_failures >= 2)
    assert not h.sink.connected
    mosquitto.start()
    await h.connected()
    mosquitto.kill()  # no goodbye at all this time
    mosquitto.start()
    await h.wait_until(lambda: h.sink.stats.reconnects == 2)
    assert h.sink.connected and h.connected_calls == 3


async def test_close_while_broker_is_down_returns(
    mosquitto: Mosquitto, make_sink: MakeSink
) -> None:
    h = await (await make_sink(settings_for(mosquitto))).connected()
    mosquitto.stop()
    await h.wait_until(lambda: not h.sink.connected)
    h.sink.publish_event("tiktok/alice/gift", {"n": 1})
    await asyncio.wait_for(h.sink.close(timeout_s=1.0), WAIT_S)
    assert h.task is not None
    await asyncio.wait_for(h.task, WAIT_S)
    h.sink.publish_event("tiktok/alice/gift", {"n": 2})  # ignored after close
    assert h.sink.stats.queued == 1


async def test_mqtts_with_ca_and_client_certificate(
    mosquitto_factory: Callable[..., Mosquitto], make_sink: MakeSink
) -> None:
    broker = mosquitto_factory(tls=True, require_client_cert=True)
    pki = broker.tls_files
    assert pki is not None
    settings = settings_for(
        broker.tls_url, ca=str(pki.ca_cert), cert=str(pki.client_cert), key=str(pki.client_key)
    )
    h = await (await make_sink(settings)).connected()
    assert h.sink.connected

    # Without the CA the server certificate is refused: not connected, still retrying.
    untrusted = await make_sink(settings_for(broker.tls_url))
    await untrusted.wait_until(lambda: untrusted.sink.stats.connect_failures >= 2)
    assert not untrusted.sink.connected
    json.dumps(h.sink.stats.as_dict())  # health-publishable
