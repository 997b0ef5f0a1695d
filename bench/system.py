"""Memory and idle cost: the daemon as a subprocess, sampled with psutil.

* idle: N streamers all waiting for live (the daemon polls the simulator), CPU % of one
  core averaged over a window, RSS;
* connected: the same N streamers live, each receiving 10 events/s;
* growth: one streamer at 1,000 events/s for a long run, RSS sampled every few seconds;
* start-up: spawn → READY=1 on NOTIFY_SOCKET.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the project env

from bench import procs, traffic
from bridge.sim import SimConfig, SimRoom, TikTokSimulator

# The shortest live poll interval the configuration allows: the worst idle case.
POLL_S = 15
# The product's default live poll interval (tiktok.live_poll_interval_s): the idle target.
DEFAULT_POLL_S = 60


@dataclass(frozen=True, slots=True)
class Load:
    streamers: int
    ready_s: float
    idle_cpu_pct: float
    idle_rss_mb: float
    connected: int  # streamers whose socket entered the room
    conn_cpu_pct: float
    conn_rss_mb: float
    events_per_s: float  # messages pushed per second during the connected window


@dataclass
class Growth:
    rate: int
    seconds: float
    samples: list[tuple[float, float]] = field(default_factory=list)  # (t, RSS MB)

    @property
    def start_mb(self) -> float:
        return self.samples[0][1] if self.samples else float("nan")

    @property
    def end_mb(self) -> float:
        return self.samples[-1][1] if self.samples else float("nan")

    @property
    def peak_mb(self) -> float:
        return max((m for _, m in self.samples), default=float("nan"))

    @property
    def mb_per_min(self) -> float:
        """Least-squares slope of the second half (the first half includes warm-up)."""
        half = self.samples[len(self.samples) // 2 :]
        if len(half) < 2:
            return float("nan")
        slope = statistics.linear_regression([t for t, _ in half], [m for _, m in half]).slope
        return 60 * slope


def _rss_mb(proc: psutil.Process) -> float:
    return float(proc.memory_info().rss) / 1_048_576


async def _cpu_window(proc: psutil.Process, seconds: float) -> tuple[float, float]:
    """(CPU % of one core, mean RSS MB) over ``seconds``."""
    rss: list[float] = []
    c0, w0 = proc.cpu_times(), time.monotonic()
    end = w0 + seconds
    while time.monotonic() < end:
        rss.append(_rss_mb(proc))
        await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))
    c1, w1 = proc.cpu_times(), time.monotonic()
    rss.append(_rss_mb(proc))
    cpu = (c1.user + c1.system) - (c0.user + c0.system)
    return 100 * cpu / (w1 - w0), statistics.mean(rss)


async def _traffic(rooms: list[SimRoom], per_streamer: float, stop: asyncio.Event) -> int:
    """Each room gets a batch of ``per_streamer`` mixed messages every second."""
    pool = traffic.mixed_pool(traffic.viewers(40))
    size = max(1, round(per_streamer))
    sent, k = 0, 0
    while not stop.is_set():
        tick = time.monotonic()
        for room in rooms:
            start = (k * size) % len(pool)
            batch = traffic.fresh_ids((pool + pool)[start : start + size])
            if traffic.send(room, batch):
                sent += len(batch)
        k += 1
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    return sent


async def load(n: int, window_s: float) -> Load:
    with (
        tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp,
        procs.mosquitto(Path(tmp)) as port,
    ):
        # Live rooms send their viewer count every 10 s, as TikTok's do: a socket without
        # any message is a failed attempt (tiktok.first_message_timeout_s).
        sim = TikTokSimulator(config=SimConfig(heartbeat_timeout_s=120, viewer_updates_s=10.0))
        await sim.start()
        try:
            users = [f"streamer_{i:03d}" for i in range(n)]
            rooms = [sim.add_user(u) for u in users]
            cfg = Path(tmp) / "config.yaml"
            cfg.write_text(procs.config_text(port, sim.endpoints, users, Path(tmp), poll_s=POLL_S))
            daemon = await asyncio.to_thread(procs.start_daemon, cfg)
            try:
                proc = psutil.Process(daemon.pid)
                await asyncio.sleep(3.0)  # start-up and every streamer's first live check
                idle_cpu, idle_rss = await _cpu_window(proc, window_s)
                for room in rooms:
                    room.go_live()
                # Discovered at the next poll (≤ POLL_S + 20 % jitter), then connected.
                deadline = time.monotonic() + POLL_S * 1.2 + 20
                while time.monotonic() < deadline:
                    if all(r.entered_connections() for r in rooms):
                        break
                    await asyncio.sleep(0.5)
                connected = sum(1 for r in rooms if r.entered_connections())
                stop = asyncio.Event()
                sender = asyncio.create_task(_traffic(rooms, 10, stop))
                await asyncio.sleep(5.0)  # connections settle, first like windows close
                t0 = time.monotonic()
                conn_cpu, conn_rss = await _cpu_window(proc, window_s)
                stop.set()
                sent = await sender
                rate = sent / max(time.monotonic() - t0 + 5.0, 1e-9)
            finally:
                await asyncio.to_thread(procs.stop_daemon, daemon)
        finally:
            await sim.stop()
    assert daemon.ready_after_s is not None
    return Load(n, daemon.ready_after_s, idle_cpu, idle_rss, connected, conn_cpu, conn_rss, rate)


@dataclass(frozen=True, slots=True)
class Idle:
    streamers: int
    poll_s: float
    cpu_pct: float
    rss_mb: float
    checks: int  # HTTP requests the simulator served in the window (the live checks)


async def idle(n: int, poll_s: float = DEFAULT_POLL_S) -> Idle:
    """N streamers waiting for live at ``poll_s``, over one whole poll interval.

    The streamers' start is spread over one interval (``--stagger``) and the window opens
    after all have made their first check, so it holds each streamer's poll about once:
    with every streamer starting at once, a window shorter than about two intervals would
    see the synchronised polls either all or not at all.
    """
    with (
        tempfile.TemporaryDirectory(prefix="bench-idle60-") as tmp,
        procs.mosquitto(Path(tmp)) as port,
    ):
        sim = TikTokSimulator(config=SimConfig(heartbeat_timeout_s=120, viewer_updates_s=10.0))
        await sim.start()
        try:
            users = [f"streamer_{i:03d}" for i in range(n)]
            for u in users:
                sim.add_user(u)
            cfg = Path(tmp) / "config.yaml"
            cfg.write_text(procs.config_text(port, sim.endpoints, users, Path(tmp), poll_s=poll_s))
            daemon = await asyncio.to_thread(procs.start_daemon, cfg, stagger_s=poll_s / max(n, 1))
            try:
                proc = psutil.Process(daemon.pid)
                await asyncio.sleep(poll_s + 3.0)  # every streamer started and checked once
                before = sum(sim.stats.http_requests.values())
                cpu, rss = await _cpu_window(proc, poll_s)
                checks = sum(sim.stats.http_requests.values()) - before
            finally:
                await asyncio.to_thread(procs.stop_daemon, daemon)
        finally:
            await sim.stop()
    return Idle(n, poll_s, cpu, rss, checks)


async def growth(rate: int, seconds: float, sample_s: float = 5.0) -> Growth:
    """RSS of one streamer's daemon at ``rate`` chats/s for ``seconds``."""
    result = Growth(rate, seconds)
    with (
        tempfile.TemporaryDirectory(prefix="bench-growth-") as tmp,
        procs.mosquitto(Path(tmp)) as port,
    ):
        sim = TikTokSimulator(config=SimConfig(heartbeat_timeout_s=120, viewer_updates_s=10.0))
        await sim.start()
        try:
            room = sim.add_user("growth_streamer", live=True)
            cfg = Path(tmp) / "config.yaml"
            cfg.write_text(procs.config_text(port, sim.endpoints, ["growth_streamer"], Path(tmp)))
            daemon = await asyncio.to_thread(procs.start_daemon, cfg)
            try:
                await room.wait_entered(1, 30)
                proc = psutil.Process(daemon.pid)
                # Distinct chats, built as the run goes: a fixed pool would let nothing grow.
                users = traffic.viewers()
                room_id = room.room_id or 0
                batch = 10
                t0 = time.monotonic()
                next_sample = t0

                def emit(k: int) -> int:
                    nonlocal next_sample
                    now = time.monotonic()
                    if now >= next_sample:
                        result.samples.append((now - t0, _rss_mb(proc)))
                        next_sample += sample_s
                    items = traffic.chats(k * batch, batch, room_id, users)
                    traffic.send(room, items)
                    return batch

                await traffic.paced(rate, seconds, batch, emit)
                result.samples.append((time.monotonic() - t0, _rss_mb(proc)))
            finally:
                await asyncio.to_thread(procs.stop_daemon, daemon)
        finally:
            await sim.stop()
    return result


async def startup(repeats: int) -> list[float]:
    """Spawn → READY=1 of a daemon with one streamer (broker and simulator already up)."""
    times: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-start-") as tmp,
        procs.mosquitto(Path(tmp)) as port,
    ):
        sim = TikTokSimulator()
        await sim.start()
        try:
            sim.add_user("start_streamer")
            cfg = Path(tmp) / "config.yaml"
            cfg.write_text(procs.config_text(port, sim.endpoints, ["start_streamer"], Path(tmp)))
            for _ in range(repeats):
                daemon = await asyncio.to_thread(procs.start_daemon, cfg)
                assert daemon.ready_after_s is not None
                times.append(daemon.ready_after_s)
                await asyncio.to_thread(procs.stop_daemon, daemon)
        finally:
            await sim.stop()
    return times
