"""bridge.mqtt.fastpath pinned against a real mosquitto and the MQTT spec.

The fast path writes QoS 0 PUBLISH packets below aiomqtt through paho internals
(`_out_packet`, `_sock`, `_protocol`, `loop_write`). A paho or aiomqtt
release that changes them must fail here, not in a user's broker log.
"""

from __future__ import annotations

from collections.abc import Callable

import aiomqtt
from paho.mqtt.enums import MQTTErrorCode

from bridge.mqtt import fastpath
from tests.helpers.mosquitto import Mosquitto, Subscribe
from tests.mqtt.conftest import WAIT_S, MakeSink, settings_for


def test_packets_are_the_spec_bytes() -> None:
    # MQTT 3.1.1 §3.3: fixed header 0x30, remaining length, u16 topic length, topic,
    # payload (no packet id at QoS 0); MQTT 5 adds a property length (0) after the topic.
    assert fastpath.pack_qos0([(b"a/b", b"hi")]) == b"\x30\x07\x00\x03a/bhi"
    assert fastpath.pack_qos0([(b"a/b", b"hi")], mqtt5=True) == b"\x30\x08\x00\x03a/b\x00hi"
    assert fastpath.pack_qos0([(b"t", b"")]) == b"\x30\x03\x00\x01t"
    # Variable byte integer boundaries (§2.2.3): 127 → 7F, 128 → 80 01, 16384 → 80 80 01.
    assert fastpath.pack_qos0([(b"t", b"x" * 124)])[:2] == b"\x30\x7f"
    assert fastpath.pack_qos0([(b"t", b"x" * 125)])[:3] == b"\x30\x80\x01"
    assert fastpath.pack_qos0([(b"t", b"x" * 16381)])[:4] == b"\x30\x80\x80\x01"
    two = fastpath.pack_qos0([(b"a", b"1"), (b"b", b"22")])
    assert two == b"\x30\x04\x00\x01a1" + b"\x30\x05\x00\x01b22"


async def test_a_run_arrives_whole_and_in_order_with_qos1_between(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    rec = await subscriber(mosquitto, "tiktok/#")
    h = await (await make_sink(settings_for(mosquitto, event_qos=0))).connected()
    # Sizes across the remaining-length byte boundaries, a non-ASCII topic, and a QoS 1
    # event in the middle of QoS 0 runs: order on the wire is the order of the queue.
    sizes = [0, 1, 124, 125, 126, 16380, 16381, 16382, 200_000, 5]
    sent: list[tuple[str, bytes, int]] = []
    for i, size in enumerate(sizes):
        topic = "tiktok/ström/chat" if i % 2 else "tiktok/bench/chat"
        qos = 1 if i == 4 else 0
        payload = (str(i).encode() * size)[:size]
        h.sink.publish_event(topic, payload, qos=qos)
        sent.append((topic, payload, qos))
    got = await rec.wait_count("tiktok/+/chat", len(sent), timeout=WAIT_S)
    assert [(m.topic, m.payload, m.qos) for m in got] == sent
    assert h.sink.stats.published == len(sent)
    assert h.sink.stats.queued == 0


async def test_a_run_larger_than_the_socket_buffer_is_finished_by_paho(
    mosquitto: Mosquitto, subscriber: Subscribe, make_sink: MakeSink
) -> None:
    # 64 × 256 KiB in one write: the kernel takes part of it, paho's writer callback
    # (aiomqtt's add_writer) must send the rest, and the sink waits for that before the
    # next run instead of piling up more.
    rec = await subscriber(mosquitto, "tiktok/#")
    h = await (await make_sink(settings_for(mosquitto))).connected()
    payloads = [bytes([65 + i % 26]) * 262_144 for i in range(100)]
    for payload in payloads:
        h.sink.publish_event("tiktok/bench/gift", payload)
    got = await rec.wait_count("tiktok/bench/gift", len(payloads), timeout=WAIT_S)
    assert [m.payload for m in got] == payloads


async def test_mqtt5_connection_then_paho_packets_after_it(
    mosquitto: Mosquitto, subscriber: Subscribe
) -> None:
    rec = await subscriber(mosquitto, "t/#")
    client = aiomqtt.Client(
        mosquitto.host, mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5, timeout=10
    )
    async with client:
        paho = client._client
        assert fastpath.is_mqtt5(paho)
        packets = fastpath.pack_qos0([(b"t/1", b"one"), (b"t/2", b"")], mqtt5=True)
        assert fastpath.write(paho, packets) == MQTTErrorCode.MQTT_ERR_SUCCESS
        got = await rec.wait_count("t/#", 2, timeout=WAIT_S)
        assert [(m.topic, m.payload) for m in got] == [("t/1", b"one"), ("t/2", b"")]
        assert not paho.want_write()  # written at once, nothing left in paho's queue
        # The connection is still usable for paho's own packets afterwards.
        await client.publish("t/3", b"three", qos=1)
        got = await rec.wait_count("t/#", 3, timeout=WAIT_S)
        assert got[2].payload == b"three"
    assert not fastpath.is_mqtt5(aiomqtt.Client("localhost")._client)


async def test_no_socket_means_nothing_queued(mosquitto: Mosquitto) -> None:
    client = aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=10)
    async with client:
        pass
    paho = client._client
    packets = fastpath.pack_qos0([(b"t/1", b"one")])
    assert fastpath.write(paho, packets) == MQTTErrorCode.MQTT_ERR_NO_CONN
    assert not paho.want_write()


async def test_a_large_run_over_tls_arrives_whole_and_in_order(
    mosquitto_factory: Callable[..., Mosquitto], subscriber: Subscribe, make_sink: MakeSink
) -> None:
    # TLS writes are partial in their own way (records, want-write); paho's writer must
    # finish our buffer through the SSL socket as it does its own packets.
    broker = mosquitto_factory(tls=True)
    pki = broker.tls_files
    assert pki is not None
    rec = await subscriber(broker, "tiktok/#")  # the plain listener
    h = await (await make_sink(settings_for(broker.tls_url, ca=str(pki.ca_cert)))).connected()
    payloads = [bytes([97 + i % 26]) * (65_536 + i) for i in range(100)]
    for payload in payloads:
        h.sink.publish_event("tiktok/bench/chat", payload)
    got = await rec.wait_count("tiktok/bench/chat", len(payloads), timeout=WAIT_S)
    assert [m.payload for m in got] == payloads
