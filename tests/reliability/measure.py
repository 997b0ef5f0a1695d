"""Measurements behind docs/reliability.md (issue 11): broker recovery and command floods.

    python -m tests.reliability.measure outage [--kill 15 --kill 30 --stop 60] [--rate 20]
    python -m tests.reliability.measure flood [--requests 20000 --seconds 10 --rate 100]
    python -m tests.reliability.measure ... --code /path/to/other/checkout   # "before" figures

Real parts only: mosquitto (tests.helpers.mosquitto), the TikTok simulator in this process,
`python -m bridge run` as a subprocess (from `--code`, default this checkout) and a paho
subscriber with a persistent session in its own thread. Not a test: it prints figures (and
writes them as JSON with --json); nothing asserts on time.

outage  chats flow at --rate per second; the broker is killed (-9) for N seconds, or
        SIGSTOPped for N seconds. Reported: seconds from the broker accepting connections
        again (restart / SIGCONT) until the daemon logs "MQTT: connected" (0 when the old
        connection survived), chats lost (pushed to the bridge's socket, never delivered),
        and the sink's drop counters from bridge/health.
flood   --requests command requests (QoS 0, to `<base>/alice/chat/send`, chat sending
        disabled so each is answered with an error) spread over --seconds, while TikTok
        pushes --rate chats per second. Reported: chats lost, responses delivered, the
        sink's and the command router's counters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bridge.sim import SimRoom, TikTokSimulator
from bridge.sim import messages as sm
from tests.core.support import config_yaml
from tests.helpers.mosquitto import Mosquitto
from tests.reliability.support import Daemon, Flooder, new_simulator

REPO = Path(__file__).resolve().parents[2]
# The subscriber's session keeps everything (QoS 0 events too) while it is cut off by the
# fault: what it misses is the bridge's loss, not its own.
BROKER_CONFIG = "max_queued_messages 0\nqueue_qos0_messages true"
_CONNECTED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*MQTT: connected to", re.M)


class Subscriber:
    """paho, persistent session, QoS 1: counts chat msg_ids and responses, keeps health."""

    def __init__(self, broker: Mosquitto, client_id: str = "measure-sub") -> None:
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.chats: Counter[str] = Counter()
        self.responses = 0
        self.health: dict[str, Any] = {}
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(0.2, 0.5)
        self.client.on_connect = lambda c, *_: c.subscribe("tiktok/#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect_async(broker.host, broker.port, keepalive=30)
        self.client.loop_start()

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        topic = msg.topic
        with self.lock:
            if topic.startswith("tiktok/bridge/response/"):
                self.responses += 1
            elif topic == "tiktok/bridge/health" and msg.payload:
                self.health = json.loads(msg.payload)
            elif topic == "tiktok/alice/chat":
                msg_id = str(json.loads(msg.payload)["msg_id"])
                if not (msg.dup and msg_id in self.chats):  # the broker's own redelivery
                    self.chats[msg_id] += 1

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Traffic:
    pushed: list[str] = field(default_factory=list)  # msg_ids handed to a bridge socket
    at: dict[str, float] = field(default_factory=dict)  # msg_id -> time.time() of the push

    async def run(self, room: SimRoom, rate: float, stop: asyncio.Event) -> None:
        interval, n, start = 1.0 / rate, 0, time.monotonic()
        while not stop.is_set():
            item = sm.chat(f"viewer{n % 11}", f"chat {n}")
            if room.push(item):
                msg_id = str(sm.common_of(item[1])[1])
                self.pushed.append(msg_id)
                self.at[msg_id] = time.time()
            n += 1
            await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))


def _daemon_env_code(code: Path) -> None:
    import tests.reliability.support as support

    support.REPO = code  # Daemon() puts REPO on PYTHONPATH and runs from there


def connects_after(log: str, after: float) -> list[float]:
    stamps = []
    for match in _CONNECTED.finditer(log):
        t = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if t >= after:
            stamps.append(t - after)
    return stamps


async def settle(sub: Subscriber, traffic: Traffic, within: float = 30.0) -> None:
    """Until every pushed chat arrived, or nothing new arrived for 5 s."""
    deadline, last, last_change = time.monotonic() + within, -1, time.monotonic()
    while time.monotonic() < deadline:
        with sub.lock:
            got = sum(1 for i in traffic.pushed if i in sub.chats)
        if got == len(traffic.pushed):
            return
        if got != last:
            last, last_change = got, time.monotonic()
        elif time.monotonic() - last_change > 5:
            return
        await asyncio.sleep(0.2)


def lost(
    sub: Subscriber, traffic: Traffic, back: float | None = None, max_age: float = 15.0
) -> dict[str, int]:
    """Chats never delivered; `lost_fresh`: of those, the ones younger than max_age when
    the broker came back at `back` (the ones the bridge promises to deliver)."""
    with sub.lock:
        missing = [i for i in traffic.pushed if i not in sub.chats]
        twice = sum(1 for i in traffic.pushed if sub.chats[i] > 1)
    out = {"pushed": len(traffic.pushed), "lost": len(missing), "duplicated": twice}
    if back is not None:
        out["lost_fresh"] = sum(1 for i in missing if back - traffic.at[i] < max_age)
    return out


async def outage(kind: str, seconds: float, rate: float, code: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = Mosquitto(tmp / "broker", persistence=True, extra_config=BROKER_CONFIG)
        broker.start()
        sim = new_simulator()
        await sim.start()
        sub = Subscriber(broker)
        daemon = None
        try:
            await asyncio.to_thread(sub.subscribed.wait, 10)
            await asyncio.sleep(1.2)  # autosave_interval 1: the session is on disk
            room = sim.add_user("alice", live=True)
            daemon = Daemon(_config(broker, sim, tmp), tmp / "daemon.log")
            await room.wait_entered(1, 30)
            traffic, stop = Traffic(), asyncio.Event()
            pump = asyncio.create_task(traffic.run(room, rate, stop))
            await asyncio.sleep(5)
            if kind == "kill":
                broker.kill()
                await asyncio.sleep(seconds)
                broker.start()
            else:
                broker.pause()
                await asyncio.sleep(seconds)
                broker.resume()
            back = time.time()
            await asyncio.sleep(20)
            stop.set()
            await pump
            await settle(sub, traffic)
            with sub.lock:
                health = dict(sub.health)
            reconnected = connects_after(daemon.text(), back - 1.0)
            result = {
                "fault": f"{kind} {seconds:g} s",
                "rate": rate,
                # Connected before the broker came back: the old connection survived.
                "reconnect_s": round(max(reconnected[0] - 1.0, 0.0), 2) if reconnected else None,
                **lost(sub, traffic, back),
                "mqtt": {
                    k: health.get("mqtt", {}).get(k)
                    for k in ("dropped_overflow", "dropped_stale", "reconnects")
                },
            }
        finally:
            if daemon is not None:
                daemon.signal(signal.SIGTERM)
                try:
                    await daemon.wait(20)
                except TimeoutError:
                    daemon.stop()
            sub.stop()
            await sim.stop()
            broker.stop()
    return result


def _config(broker: Mosquitto, sim: TikTokSimulator, tmp: Path, streamer: str = "") -> Path:
    text = config_yaml(broker, sim, tmp / "state", streamer or "- alice\n")
    text = text.replace("level: debug", "level: info")
    path = tmp / "cfg.yaml"
    path.write_text(text)
    return path


async def flood(requests: int, seconds: float, rate: float, code: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = Mosquitto(tmp / "broker", extra_config=BROKER_CONFIG)
        broker.start()
        sim = new_simulator()
        await sim.start()
        sub = Subscriber(broker)
        daemon = None
        try:
            await asyncio.to_thread(sub.subscribed.wait, 10)
            room = sim.add_user("alice", live=True)
            daemon = Daemon(_config(broker, sim, tmp), tmp / "daemon.log")
            await room.wait_entered(1, 30)
            await asyncio.sleep(2)
            traffic, stop = Traffic(), asyncio.Event()
            pump = asyncio.create_task(traffic.run(room, rate, stop))
            flooder = Flooder(
                broker,
                ["tiktok/alice/chat/send"],
                rate=requests / seconds,
                count=requests,
                body=lambda n: json.dumps({"message": f"flood {n}", "transaction": n}),
            )
            started = time.monotonic()
            flooder.start()
            await asyncio.to_thread(flooder.join)
            took = time.monotonic() - started
            await asyncio.sleep(1)
            stop.set()
            await pump
            await settle(sub, traffic, within=60)
            await asyncio.sleep(6)  # the last health snapshot (every 5 s)
            with sub.lock:
                health, responses = dict(sub.health), sub.responses
            result = {
                "requests": flooder.sent,
                "flood_s": round(took, 1),
                "rate": rate,
                **lost(sub, traffic),
                "responses": responses,
                "mqtt": {
                    k: health.get("mqtt", {}).get(k)
                    for k in (
                        "received",
                        "commands_refused",
                        "responses_dropped",
                        "dropped_overflow",
                        "dropped_stale",
                    )
                },
            }
        finally:
            if daemon is not None:
                daemon.signal(signal.SIGTERM)
                try:
                    await daemon.wait(20)
                except TimeoutError:
                    daemon.stop()
            sub.stop()
            await sim.stop()
            broker.stop()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("outage", "flood"))
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose daemon runs")
    parser.add_argument("--kill", type=float, action="append", help="broker kill -9, seconds")
    parser.add_argument("--stop", type=float, action="append", help="broker SIGSTOP, seconds")
    parser.add_argument("--rate", type=float, help="chats per second from TikTok")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    _daemon_env_code(args.code.resolve())
    results: list[dict[str, Any]] = []
    if args.what == "outage":
        rate = args.rate or 20.0
        faults = [("kill", s) for s in (args.kill or [])] + [("stop", s) for s in (args.stop or [])]
        for kind, seconds in faults or [("kill", 15.0), ("kill", 30.0), ("stop", 60.0)]:
            results.append(asyncio.run(outage(kind, seconds, rate, args.code)))
            print(json.dumps(results[-1]), flush=True)
    else:
        result = asyncio.run(flood(args.requests, args.seconds, args.rate or 100.0, args.code))
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"code": str(args.code), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
