"""Bounded soak: the real daemon against a real mosquitto and the simulator, with faults.

    scripts/soak --minutes 30            # the documented run (docs/reliability.md)
    python -m tests.reliability.soak --minutes 3 --json out.json

What runs: mosquitto (tests.helpers.mosquitto, persistence on so a kill -9 keeps the
subscriber's session), the TikTok simulator in this process, and `python -m bridge run`
as a subprocess. Several streamers are live and receive a few hundred events/s in total.
Every ``--fault-every`` seconds one fault from FAULTS is injected, in rotation.

Accounting. Chats, joins and follows are 1:1 with published events and carry a unique
msg_id, so each one the simulator handed to a socket is tracked until it shows up on MQTT.
TikTok does not queue for a disconnected client, so around TikTok-side faults traffic to
that streamer is paused and only resumed once the bridge acked everything and re-entered:
anything missing afterwards is the bridge's loss. Likes and gifts flow for realism but are
not accounted (likes are batched by design). At the end:

* no accountable event was delivered twice;
* every missing accountable event is covered by the sink's drop counters
  (``dropped_overflow`` + ``dropped_stale`` in bridge/health, i.e. dropped by policy);
* RSS, open fds and asyncio tasks of the daemon did not grow beyond a small bound
  (compared between a warm sample after the first minutes and the final quiet sample);
* every topic seen on ``#`` is one of the expected set (live data never makes a topic).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bridge.sim import SimConfig, SimRoom, TikTokSimulator
from bridge.sim import messages as sm
from tests.helpers.mosquitto import Mosquitto

REPO = Path(__file__).resolve().parents[2]
BASE = "tiktok"

# Topics the bridge may publish (HA discovery is off in the soak config).
TOPIC_PATTERNS = [
    re.compile(p)
    for p in (
        rf"{BASE}/bridge/(state|info|health|event|logging)",
        rf"{BASE}/bridge/response/[a-z_/]+",
        rf"{BASE}/[a-z0-9._-]+/(availability|live|viewers|state|watch/state|gift/progress)",
        rf"{BASE}/[a-z0-9._-]+/[a-z_]+",  # event topics: fixed per event class
    )
]


def topic_expected(topic: str) -> bool:
    return any(p.fullmatch(topic) for p in TOPIC_PATTERNS)


# ------------------------------------------------------------------------------ subscriber


class Collector:
    """A paho subscriber in its own thread with a persistent session (clean_session False):
    messages published while it was cut off by a broker kill are queued for it."""

    def __init__(self, broker: Mosquitto, client_id: str = "soak-collector") -> None:
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.order: list[str] = []  # msg_ids in arrival order
        self.ids: Counter[str] = Counter()  # msg_id -> times delivered (accountable types)
        self.topics: Counter[str] = Counter()
        self.unexpected_topics: set[str] = set()
        self.bad_json = 0
        self.health: dict[str, Any] = {}
        self.health_count = 0
        self.bridge_states: list[str] = []
        self.total = 0
        self.redelivered = 0  # duplicates the broker sent (DUP set), not counted in ids
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect_async(broker.host, broker.port, keepalive=10)

    def _on_connect(self, client: paho.Client, *_: Any) -> None:
        client.subscribe(f"{BASE}/#", qos=1)

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        topic = msg.topic
        with self.lock:
            self.total += 1
            self.topics[topic] += 1
            if not topic_expected(topic):
                self.unexpected_topics.add(topic)
            if topic == f"{BASE}/bridge/health" and msg.payload:
                self.health = json.loads(msg.payload)
                self.health_count += 1
                return
            if topic == f"{BASE}/bridge/state":
                self.bridge_states.append(msg.payload.decode(errors="replace"))
                return
            leaf = topic.rsplit("/", 1)[-1]
            if leaf in ("chat", "join", "follow") and not msg.retain:
                try:
                    body = json.loads(msg.payload)
                except ValueError:
                    self.bad_json += 1
                    return
                msg_id = str(body.get("msg_id"))
                if msg.dup and msg_id in self.ids:
                    # The broker's own redelivery (DUP flag): restarted from its persistence
                    # file, it re-sends what it had not seen us acknowledge before the kill.
                    # Not the bridge's doing (its re-sends are new publishes, DUP clear).
                    self.redelivered += 1
                    return
                self.ids[msg_id] += 1
                self.order.append(msg_id)

    def start(self) -> None:
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    async def ready(self, within: float = 10.0) -> Collector:
        """Wait until the subscription is in place (the broker now keeps the session)."""
        if not await asyncio.to_thread(self.subscribed.wait, within):
            raise AssertionError("collector did not subscribe")
        return self

    async def wait_ids(self, ids: list[str], within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self.lock:
                if all(i in self.ids for i in ids):
                    return
            await asyncio.sleep(0.1)
        with self.lock:
            missing = [i for i in ids if i not in self.ids]
        raise AssertionError(f"{len(missing)}/{len(ids)} events never arrived")

    def delivered(self) -> int:
        with self.lock:
            return sum(self.ids.values())


# ------------------------------------------------------------------------------ daemon


def proc_sample(pid: int) -> dict[str, int]:
    """RSS (kB), threads and open fds of a process, straight from /proc."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key == "VmRSS":
                out["rss_kb"] = int(value.split()[0])
            elif key == "Threads":
                out["threads"] = int(value)
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def daemon_config(broker: Mosquitto, sim: TikTokSimulator, workdir: Path, users: list[str]) -> str:
    ep = sim.endpoints
    streamers = "".join(f"  - {u}\n" for u in users)
    return (
        textwrap.dedent(
            f"""\
        mqtt:
          server: {broker.url}
          base_topic: {BASE}
          client_id: soak-bridge
          event_qos: 1
          buffer_size: 1000
          max_event_age_s: 15
        homeassistant:
          enabled: false
        tiktok:
          connection: direct
          live_poll_interval_s: 15
          calls_per_minute: 600
          heartbeat_interval_s: 2
          stale_after_s: 10
          endpoints:
            www: {ep.www}
            webcast: {ep.webcast}
            websocket: {ep.websocket}
            sign_server: {ep.sign_server}
        logging:
          level: info
          mqtt_level: warning
        service:
          state_dir: {workdir / "state"}
          health_interval_s: 5
          health_file: {workdir / "health.json"}
        streamers:
        """
        )
        + streamers
    )


# ------------------------------------------------------------------------------ the soak


@dataclass
class SoakResult:
    minutes: float
    streamers: int
    target_rate: int
    sent: int = 0  # accountable events handed to a bridge socket
    sent_all: int = 0  # every message pushed (incl. likes and gifts)
    delivered_unique: int = 0
    duplicates: int = 0
    missing: int = 0
    dropped_overflow: int = 0
    dropped_stale: int = 0
    mqtt_reconnects: int = 0
    streamer_reconnects: int = 0
    bridge_duplicates_filtered: int = 0
    decode_errors: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    fault_log: list[str] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    unexpected_topics: list[str] = field(default_factory=list)
    messages_seen: int = 0
    exit_code: int | None = None
    final_offline: bool = False
    problems: list[str] = field(default_factory=list)
    missing_by_second: dict[int, int] = field(default_factory=dict)

    def check(self, *, rss_bound_mb: float, fd_bound: int, task_bound: int) -> list[str]:
        """Every failed expectation as a sentence (empty: the soak passed)."""
        out = list(self.problems)
        if self.duplicates:
            out.append(f"{self.duplicates} events delivered more than once")
        dropped = self.dropped_overflow + self.dropped_stale
        if self.missing > dropped:
            out.append(f"{self.missing} events missing but only {dropped} counted as dropped")
        if self.unexpected_topics:
            out.append(f"unexpected topics: {self.unexpected_topics[:5]}")
        if self.exit_code != 0:
            out.append(f"daemon exit code {self.exit_code} after SIGTERM")
        if not self.final_offline:
            out.append("no 'offline' on bridge/state after SIGTERM")
        if len(self.samples) >= 3:
            warm, last = self.samples[1], self.samples[-1]
            rss = (last["rss_kb"] - warm["rss_kb"]) / 1024
            if rss > rss_bound_mb:
                out.append(f"RSS grew by {rss:.1f} MB (bound {rss_bound_mb})")
            if last["fds"] - warm["fds"] > fd_bound:
                out.append(f"open fds grew {warm['fds']} -> {last['fds']}")
            if last.get("tasks", 0) - warm.get("tasks", 0) > task_bound:
                out.append(f"asyncio tasks grew {warm.get('tasks')} -> {last.get('tasks')}")
        else:
            out.append("too few resource samples")
        return out


class Soak:
    def __init__(
        self,
        workdir: Path,
        *,
        minutes: float,
        streamers: int = 4,
        rate: int = 300,
        fault_every_s: float = 45.0,
        seed: int = 7,
        log: Callable[[str], None] = print,
    ) -> None:
        self.workdir = workdir
        self.minutes = minutes
        self.users = [f"soak_{i}" for i in range(streamers)]
        self.rate = rate
        self.fault_every_s = fault_every_s
        self.rng = random.Random(seed)
        self.log = log
        self.paused: set[str] = set()
        self.sent_ids: set[str] = set()
        self.sent_at: dict[str, float] = {}  # msg_id -> seconds since start (diagnostics)
        self.sent_all = 0
        self.result = SoakResult(minutes=minutes, streamers=streamers, target_rate=rate)
        # No broker-side cap on what is queued for the (briefly offline) collector: the
        # default 1000 would drop messages that the bridge did deliver.
        self.broker = Mosquitto(
            workdir / "mosquitto",
            persistence=True,
            extra_config="max_queued_messages 0\nmax_inflight_messages 0",
        )
        # ping_interval_s well under heartbeat_timeout_s: the bridge follows the announced
        # interval, and the simulator closes sockets that stay silent for the timeout.
        self.sim = TikTokSimulator(config=SimConfig(heartbeat_timeout_s=10, ping_interval_s=2))
        self.proc: subprocess.Popen[bytes] | None = None
        self.collector: Collector | None = None

    # -- traffic ---------------------------------------------------------------------------

    def room(self, user: str) -> SimRoom:
        return self.sim.room(user)

    async def traffic(self, user: str) -> None:
        """~rate/streamers messages/s to one streamer, in 10 frames per second."""
        per_tick = max(1, self.rate // len(self.users) // 10)
        seq = 0
        tick = 0.1
        next_at = time.monotonic()
        while True:
            next_at += tick
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            room = self.room(user)
            if user in self.paused or not room.live:
                continue
            batch: list[sm.Built] = []
            accountable: list[str] = []
            for _ in range(per_tick):
                seq += 1
                kind = seq % 20
                name = f"v{seq % 500}"
                if kind == 0:
                    item = sm.like(name, 5, seq)
                elif kind == 1:
                    item = sm.gift(name, 5655, repeat_count=1, repeat_end=1)
                elif kind == 2:
                    item = sm.member(name, seq)
                elif kind == 3:
                    item = sm.follow(name, seq)
                elif kind == 4:
                    # Hostile names and text: must stay inside the JSON, never in a topic.
                    item = sm.chat(sm.viewer(f"x+#/{seq}", "a/b+#\x00" + "é" * 50), "#/+\x00")
                else:
                    item = sm.chat(name, f"soak {user} {seq}")
                batch.append(item)
                if kind >= 3:  # member (join) is off by default: filtered by policy
                    accountable.append(str(sm.common_of(item[1])[1]))
            if room.push(*batch) > 0:
                self.sent_ids.update(accountable)
                at = round(time.monotonic() - self.t0)
                self.sent_at.update((a, at) for a in accountable)
                self.sent_all += len(batch)

    async def quiesce(self, users: list[str], within: float = 15.0) -> None:
        """Pause traffic to `users` and wait until the bridge acked every frame sent to them."""
        self.paused.update(users)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if all(not self.room(u).unacked for u in users):
                return
            await asyncio.sleep(0.1)
        self.result.problems.append(f"frames to {users} still unacked after {within}s")

    async def reentered(self, users: list[str], before: dict[str, int], within: float) -> None:
        """Wait for a new socket of each user to enter the room, then resume its traffic."""
        for user in users:
            room = self.room(user)
            deadline = time.monotonic() + within
            while time.monotonic() < deadline:
                fresh = room.records[before[user] :]
                if fresh and room.entered_connections():
                    break
                await asyncio.sleep(0.2)
            else:
                self.result.problems.append(f"{user}: no reconnect within {within}s")
            self.paused.discard(user)

    def records(self) -> dict[str, int]:
        return {u: len(self.room(u).records) for u in self.users}

    # -- faults ----------------------------------------------------------------------------

    async def settle_subscriber(self, quiet_s: float = 1.5, within: float = 30.0) -> None:
        assert self.collector is not None
        deadline = time.monotonic() + within
        last = -1
        while time.monotonic() < deadline:
            now = self.collector.delivered()
            if now == last:
                return
            last = now
            await asyncio.sleep(quiet_s)

    async def fault_broker_kill(self) -> None:
        # Quiet first so nothing is between the bridge's socket and the subscriber when the
        # broker dies (kill -9 loses in-flight messages by definition); traffic then runs
        # on during the outage: that is what the bounded buffer is for.
        await self.quiesce(self.users)
        await self.settle_subscriber()
        self.broker.kill()
        self.paused.clear()
        await asyncio.sleep(6)
        self.broker.start()

    async def fault_broker_pause(self) -> None:
        self.broker.pause()  # SIGSTOP: sockets open, nothing read
        await asyncio.sleep(5)
        self.broker.resume()

    async def _tiktok_fault(
        self, users: list[str], act: Callable[[], Awaitable[None] | None], within: float = 400
    ) -> None:
        await self.quiesce(users)
        before = self.records()
        outcome = act()
        if outcome is not None:
            await outcome
        await self.reentered(users, before, within)

    def pick(self) -> str:
        return self.rng.choice(self.users)

    async def fault_socket_drop(self) -> None:
        user = self.pick()
        await self._tiktok_fault([user], self.room(user).drop_connections)

    async def fault_half_open(self) -> None:
        user = self.pick()
        await self._tiktok_fault([user], lambda: self.room(user).half_open(True))

    async def fault_sim_restart(self) -> None:
        await self._tiktok_fault(self.users, self.sim.restart)

    async def fault_stream_end(self, action: int = 3) -> None:
        user = self.pick()
        room = self.room(user)

        async def act() -> None:
            room.end(action=action)
            await asyncio.sleep(3)
            room.go_live()

        await self._tiktok_fault([user], act)

    async def fault_moderation_end(self) -> None:
        await self.fault_stream_end(action=4)

    async def fault_device_blocked(self) -> None:
        user = self.pick()

        async def act() -> None:
            self.sim.block_device()
            self.room(user).drop_connections()
            await asyncio.sleep(5)
            self.sim.clear_faults()

        await self._tiktok_fault([user], act)

    async def fault_rate_limit(self) -> None:
        user = self.pick()

        async def act() -> None:
            self.sim.rate_limit(8)
            self.room(user).drop_connections()

        await self._tiktok_fault([user], act)

    async def fault_bad_frames(self) -> None:
        # Must not disconnect and must not lose the good frames around them.
        for user in self.users:
            room = self.room(user)
            room.send_garbage(256)
            room.send_truncated()
            room.push(sm.unknown("WebcastSoakUnknownMessage", b"\x0a\x03abc"))

    FAULTS = (
        "broker_kill",
        "socket_drop",
        "bad_frames",
        "broker_pause",
        "half_open",
        "stream_end",
        "sim_restart",
        "device_blocked",
        "moderation_end",
        "rate_limit",
    )

    # -- run -------------------------------------------------------------------------------

    async def sample(self) -> None:
        assert self.proc is not None and self.collector is not None
        row: dict[str, Any] = {"t": round(time.monotonic() - self.t0, 1)}
        row.update(proc_sample(self.proc.pid))
        health = self.collector.health
        row["tasks"] = health.get("tasks", 0)
        row["delivered"] = self.collector.delivered()
        row["sent"] = len(self.sent_ids)
        self.result.samples.append(row)
        self.log(f"sample {row}")

    async def sampler(self) -> None:
        while True:
            await asyncio.sleep(30)
            with contextlib.suppress(Exception):
                await self.sample()

    async def run(self) -> SoakResult:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker.start()
        await self.sim.start()
        for user in self.users:
            self.sim.add_user(user, live=True)
        cfg = self.workdir / "cfg.yaml"
        cfg.write_text(daemon_config(self.broker, self.sim, self.workdir, self.users))
        self.collector = Collector(self.broker)
        self.collector.start()
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("NOTIFY_SOCKET", None)
        log_file = (self.workdir / "daemon.log").open("wb")
        # Spawning returns at once (no wait): fine on the loop.
        self.proc = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "bridge", "run", "-c", str(cfg)],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        self.t0 = time.monotonic()
        tasks: list[asyncio.Task[None]] = []
        try:
            for user in self.users:
                await self.room(user).wait_entered(1, within=60)
            tasks = [asyncio.create_task(self.traffic(u)) for u in self.users]
            tasks.append(asyncio.create_task(self.sampler()))
            await asyncio.sleep(20)
            await self.sample()  # warm-up sample (index 0)
            end = self.t0 + self.minutes * 60 - 60  # the last minute is quiet accounting
            index = 0
            while time.monotonic() + self.fault_every_s < end:
                await asyncio.sleep(self.fault_every_s)
                name = self.FAULTS[index % len(self.FAULTS)]
                index += 1
                self.log(f"fault {name} at {time.monotonic() - self.t0:.0f}s")
                self.result.fault_log.append(f"{name} at {time.monotonic() - self.t0:.0f}s")
                started = time.monotonic()
                await getattr(self, f"fault_{name}")()
                self.result.faults[name] = self.result.faults.get(name, 0) + 1
                self.result.fault_log.append(f"  took {time.monotonic() - started:.1f}s")
            await asyncio.sleep(max(0.0, end - time.monotonic()) + 20)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            tasks = []
            await self.settle_subscriber(quiet_s=3)
            await asyncio.sleep(11)  # two health intervals: final counters published
            await self.sample()
            self.finish_accounting()
            self.proc.send_signal(signal.SIGTERM)
            self.result.exit_code = await asyncio.to_thread(self.proc.wait, 30)
            await asyncio.sleep(1)
            self.result.final_offline = self.collector.bridge_states[-1:] == ["offline"]
        finally:
            for task in tasks:
                task.cancel()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            log_file.close()
            self.collector.stop()
            await self.sim.stop()
            self.broker.stop()
        return self.result

    def finish_accounting(self) -> None:
        assert self.collector is not None
        r = self.result
        with self.collector.lock:
            ids = Counter(self.collector.ids)
            health = dict(self.collector.health)
            r.unexpected_topics = sorted(self.collector.unexpected_topics)
            r.messages_seen = self.collector.total
        r.sent = len(self.sent_ids)
        r.sent_all = self.sent_all
        r.delivered_unique = len(set(ids) & self.sent_ids)
        r.duplicates = sum(n - 1 for n in ids.values() if n > 1)
        r.missing = r.sent - r.delivered_unique
        # Where the losses are in time (to match them with the fault log).
        r.missing_by_second = dict(
            sorted(Counter(int(self.sent_at[i]) for i in self.sent_ids - set(ids)).items())
        )
        mqtt = health.get("mqtt", {})
        r.dropped_overflow = int(mqtt.get("dropped_overflow", 0))
        r.dropped_stale = int(mqtt.get("dropped_stale", 0))
        r.mqtt_reconnects = int(mqtt.get("reconnects", 0))
        streamers = health.get("streamers", {}).values()
        r.streamer_reconnects = sum(int(s.get("reconnects", 0)) for s in streamers)
        r.bridge_duplicates_filtered = sum(int(s.get("duplicates", 0)) for s in streamers)
        r.decode_errors = sum(int(s.get("decode_errors", 0)) for s in streamers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--streamers", type=int, default=4)
    parser.add_argument("--rate", type=int, default=300, help="messages/s over all streamers")
    parser.add_argument("--fault-every", type=float, default=45.0, help="seconds between faults")
    parser.add_argument("--workdir", type=Path, help="keep logs here (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the result as JSON here")
    parser.add_argument("--rss-bound-mb", type=float, default=25.0)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tiktok2mqtt-soak-"))
    soak = Soak(
        workdir,
        minutes=args.minutes,
        streamers=args.streamers,
        rate=args.rate,
        fault_every_s=args.fault_every,
        log=lambda line: print(line, flush=True),
    )
    result = asyncio.run(soak.run())
    problems = result.check(rss_bound_mb=args.rss_bound_mb, fd_bound=8, task_bound=10)
    summary = asdict(result)
    summary["problems_found"] = problems
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)
    print(f"workdir: {workdir}")
    print("SOAK PASSED" if not problems else "SOAK FAILED:\n  " + "\n  ".join(problems))
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
