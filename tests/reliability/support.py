"""Shared by the reliability, security and fuzz tests: the daemon as a real process,
a simulator whose heartbeat timing matches the daemon's, and small MQTT helpers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bridge.sim import SimConfig, TikTokSimulator
from tests.helpers.mosquitto import Mosquitto, MqttRecorder
from tests.helpers.paths import REPO

# The simulator announces ping-interval in its handshake and the daemon follows it; with
# an announced interval above the server's timeout every socket would be cut by design.
SIM_CONFIG = SimConfig(heartbeat_timeout_s=10.0, ping_interval_s=1)


def new_simulator() -> TikTokSimulator:
    return TikTokSimulator(config=SimConfig(heartbeat_timeout_s=10.0, ping_interval_s=1))


class Daemon:
    """`python -m bridge run -c cfg` with stdout+stderr in a file; killed at teardown."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        env["PYTHONPATH"] = str(REPO)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "-c", str(config)],
            cwd=REPO,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    async def wait(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        code = await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout)
        self._out.close()
        return code

    def text(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()


def chat_ids(rec: MqttRecorder, user: str) -> list[str]:
    """msg_ids of the chat events the recorder saw for `user`, in arrival order."""
    return [str(m.json()["msg_id"]) for m in rec.on(f"tiktok/{user}/chat") if m.payload]


async def mqtt_publish(
    broker: Mosquitto,
    topic: str,
    payload: bytes | str | dict[str, Any],
    **client: Any,
) -> None:
    raw = (
        payload
        if isinstance(payload, bytes)
        else (payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
    )
    async with aiomqtt.Client(broker.host, client.pop("port", broker.port), **client) as c:
        await c.publish(topic, raw, qos=1)


async def health(rec: MqttRecorder, predicate: Any = None, timeout: float = 20) -> dict[str, Any]:  # noqa: ASYNC109
    """The next bridge/health payload (retained, every health_interval_s) matching predicate."""
    rec_len = len(rec.on("tiktok/bridge/health"))

    def fresh(msg: Any) -> bool:
        index = rec.on("tiktok/bridge/health").index(msg)
        return index >= rec_len and (predicate is None or predicate(msg.json()))

    msg = await rec.wait_for("tiktok/bridge/health", fresh, timeout=timeout)
    data: dict[str, Any] = msg.json()
    return data


class Flooder(threading.Thread):
    """QoS 0 commands at an even `rate` per second (round robin over `topics`) from a paho
    client of its own thread, until `count` were sent or stop() is called."""

    def __init__(
        self,
        broker: Mosquitto,
        topics: Sequence[str],
        *,
        rate: float,
        count: int = 10**9,
        body: Callable[[int], str] = lambda n: json.dumps({"transaction": n}),
    ) -> None:
        super().__init__(daemon=True)
        self.topics, self.rate, self.count, self.body = list(topics), rate, count, body
        self.sent = 0
        self._halt = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"flood-{id(self)}")
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def run(self) -> None:
        start = time.monotonic()
        for n in range(self.count):
            if self._halt.is_set():
                break
            self.client.publish(self.topics[n % len(self.topics)], self.body(n), qos=0)
            self.sent += 1
            wait = start + (n + 1) / self.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        time.sleep(0.5)  # paho's thread writes what is left
        self.client.disconnect()
        self.client.loop_stop()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
