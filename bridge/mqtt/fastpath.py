"""QoS 0 PUBLISH packets written in one piece below aiomqtt: the only module that touches
paho's internals (docs/architecture.md "MQTT fast path").

Why: for a QoS 0 event paho builds its packet byte by byte, queues it, makes one
``socket.send`` per packet and then, for its "published" callback, builds an MQTT 5
``ReasonCode`` and ``Properties`` object per packet even on an MQTT 3.1.1 connection;
that was about half of the bridge's CPU per event (bench/RESULTS.md, cost). Nobody
waits for that callback at QoS 0.

What: `pack_qos0` builds the wire bytes of a run of QoS 0 PUBLISH packets (MQTT 3.1.1
§3.3, or 5.0 with an empty property list) and `write` hands them to paho as ONE entry
of its outgoing queue, then lets paho write it at once. Everything else stays paho's:
the entry is queued behind whatever paho already holds (so ordering with QoS 1
publishes, subscriptions and pings is kept), a partial write is finished by paho's own
writer callback (aiomqtt's ``add_writer``) and a broken socket goes through paho's own
disconnect handling.

The paho internals used, pinned by the version range in pyproject.toml and by
tests/mqtt/test_fastpath.py against a real mosquitto:

* ``Client._out_packet``: deque of dicts with command, mid, qos, pos, to_process, packet,
  info. The entry's command is 0 (no MQTT packet type): paho's writer then neither fires
  ``on_publish`` nor looks at ``info``; it only writes the bytes (keep-alive pings go on
  as with paho's own packets). On a reconnect paho clears the queue (unsent QoS 0 is lost, as
  QoS 0 allows).
* ``Client._sock`` (None when not connected), ``Client._protocol``, ``Client.loop_write()``.
"""

from __future__ import annotations

from collections.abc import Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

__all__ = ["pack_qos0", "write"]

_PUBLISH_QOS0 = b"\x30"  # PUBLISH, DUP 0, QoS 0, RETAIN 0
_NO_PROPERTIES = b"\x00"  # MQTT 5: property length 0
_MAX_REMAINING = 268_435_455  # MQTT's largest remaining length (4 varint bytes)
# Remaining lengths below 128 take one byte: most events; the rest are computed.
_SHORT_LENGTHS = [bytes((n,)) for n in range(128)]


def _remaining_length(n: int) -> bytes:
    if n < 128:
        return _SHORT_LENGTHS[n]
    if n > _MAX_REMAINING:
        raise ValueError("MQTT packet too large")
    out = bytearray()
    while n:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
    return bytes(out)


def pack_qos0(messages: Iterable[tuple[bytes, bytes]], *, mqtt5: bool = False) -> bytes:
    """The wire bytes of QoS 0, non-retained PUBLISH packets for (topic UTF-8, payload)."""
    extra = 3 if mqtt5 else 2  # topic length (u16) [+ property length]
    props = _NO_PROPERTIES if mqtt5 else b""
    parts: list[bytes] = []
    add = parts.extend
    for topic, payload in messages:
        size = len(topic)
        add(
            (
                _PUBLISH_QOS0,
                _remaining_length(extra + size + len(payload)),
                size.to_bytes(2, "big"),
                topic,
                props,
                payload,
            )
        )
    return b"".join(parts)


def is_mqtt5(client: mqtt.Client) -> bool:
    return bool(client._protocol == mqtt.MQTTv5)


def write(client: mqtt.Client, packets: bytes) -> MQTTErrorCode:
    """Queue `packets` (from `pack_qos0`) behind paho's outgoing queue and write now.

    Returns paho's code: MQTT_ERR_NO_CONN when there is no socket (nothing queued), else
    what ``loop_write`` says (MQTT_ERR_CONN_LOST after paho handled a broken socket).
    """
    if client._sock is None:
        return MQTTErrorCode.MQTT_ERR_NO_CONN
    client._out_packet.append(
        {
            "command": 0,
            "mid": 0,
            "qos": 0,
            "pos": 0,
            "to_process": len(packets),
            "packet": packets,
            "info": None,
        }
    )
    return client.loop_write()
