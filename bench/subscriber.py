"""MQTT subscriber process of the e2e bench: records (sequence number, receive time).

Its own process (not the bench's event loop) so that its receive timestamps are not
delayed by the simulator's work. paho's network thread does the I/O; the callback only
takes ``time.time()`` and pulls the sequence number out of the chat text with a regex (no
JSON parse: at 10,000 events/s that alone would cost a fifth of a core).
Protocol: prints ``ready`` once subscribed; a line ``count`` on stdin prints how many were
received so far; ``stop`` prints one JSON object ``{"seq": [...], "t": [...], "other": n}``
and exits.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

SEQ = re.compile(rb'"text":"#(\d+) ')


def main() -> int:
    port, topic = int(sys.argv[1]), sys.argv[2]
    seqs: list[int] = []
    times: list[float] = []
    other = [0]
    subscribed = threading.Event()
    clock = time.time

    def on_message(client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        now = clock()
        match = SEQ.search(msg.payload)
        if match is None:
            other[0] += 1
            return
        seqs.append(int(match.group(1)))
        times.append(now)

    def on_subscribe(client: Any, userdata: Any, mid: int, *args: Any) -> None:
        subscribed.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-subscriber")
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=0)
    client.loop_start()
    if not subscribed.wait(10):
        print("no suback", flush=True)
        return 1
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "count":
            print(len(seqs), flush=True)
        elif command == "stop":
            break
    client.loop_stop()
    client.disconnect()
    json.dump({"seq": seqs, "t": times, "other": other[0]}, sys.stdout)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
