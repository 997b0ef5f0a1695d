"""The sink's QoS 0 path before bridge.mqtt.fastpath (issue 16), for A/B runs only.

``python -m bench.daemon --qos0-path paho`` puts this back in place of
`MqttSink._publish_qos0_run`, so `python -m bench.sink_ab` measures both paths against the
same simulator, broker and subscriber in one run. It is the previous code verbatim: each
event handed to ``paho.publish`` (one packet, one queued write, one ``socket.send`` and one
"published" callback with MQTT 5 reason-code and property objects each).
"""

from __future__ import annotations

import time

import aiomqtt
import paho.mqtt.client as mqtt

from bridge.mqtt import sink

_QOS0_RUN = 64


def publish_qos0_run_paho(self: sink.MqttSink, client: aiomqtt.Client) -> None:
    paho = client._client
    now = time.monotonic()
    events = self._events
    for _ in range(_QOS0_RUN):
        if not events or events[0].qos != 0:
            break
        event = events[0]
        if self._stale(event, now):
            events.popleft()
            self.stats.dropped_stale += 1
            continue
        info = paho.publish(event.topic, event.payload, 0, False)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        events.popleft()
        self.stats.published += 1
        self._event_streak += 1
    self.stats.queued = len(events)


def install() -> None:
    sink.MqttSink._publish_qos0_run = publish_qos0_run_paho  # type: ignore[method-assign]
