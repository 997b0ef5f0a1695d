"""End to end: simulator → WebSocket → daemon → mosquitto → subscriber process.

Every chat carries a sequence number in its text; the sender records ``time.time()`` per
sequence number when its frame is handed to the socket, the subscriber (another process,
same machine, same clock) records when the MQTT message arrives. Loss = sequence numbers
sent but never received; latency = receive − send.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the project env

from bench import procs, traffic
from bridge.sim import SimConfig, SimRoom, TikTokSimulator

STREAMER = "bench_streamer"
WARMUP_SEQ = 900_000_000  # warm-up chats: numbered apart, not counted


@dataclass(frozen=True, slots=True)
class E2EResult:
    target_rate: int
    batch: int
    sent: int
    received: int
    lost: int
    duplicates: int
    send_seconds: float
    achieved_rate: float  # received events / send window
    p50_ms: float
    p99_ms: float
    max_ms: float
    daemon_cpu_pct: float  # of one core, over the send window + drain
    cpu_us_per_event: float


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _subscriber_count(sub: subprocess.Popen[str]) -> int:
    assert sub.stdin is not None and sub.stdout is not None
    sub.stdin.write("count\n")
    sub.stdin.flush()
    line = await asyncio.to_thread(sub.stdout.readline)
    return int(line)


async def _stop_subscriber(sub: subprocess.Popen[str]) -> dict[str, list[float]]:
    assert sub.stdin is not None and sub.stdout is not None
    sub.stdin.write("stop\n")
    sub.stdin.flush()
    out = await asyncio.to_thread(sub.stdout.read)
    await asyncio.to_thread(sub.wait, 10)
    data: dict[str, list[float]] = json.loads(out)
    return data


async def one_rate(
    room: SimRoom, daemon: procs.Daemon, port: int, rate: int, duration_s: float, seq0: int
) -> E2EResult:
    batch = max(1, min(10, rate // 100))  # ~100 frames/s at low rates, 10/frame when busy
    count = round(rate * duration_s / batch) * batch
    room_id = room.room_id or 0
    users = traffic.viewers()
    items = traffic.chats(seq0, count, room_id, users)
    warm = traffic.chats(WARMUP_SEQ + seq0, 20, room_id, users)
    sub = await asyncio.to_thread(
        procs.start_subscriber, port, f"{procs.BASE_TOPIC}/{STREAMER}/chat"
    )
    traffic.send(room, warm)
    await asyncio.sleep(1.0)
    proc = psutil.Process(daemon.pid)
    send_time: dict[int, float] = {}

    def emit(k: int) -> int:
        chunk = items[k * batch : (k + 1) * batch]
        now = time.time()
        for i in range(k * batch, k * batch + len(chunk)):
            send_time[seq0 + i] = now
        traffic.send(room, chunk)
        return len(chunk)

    cpu0 = proc.cpu_times()
    wall0 = time.monotonic()
    log = await traffic.paced(rate, duration_s, batch, emit)
    await room.drain()
    # Drain: until everything arrived, or nothing new for 3 s (then the rest is lost).
    expected = len(send_time) + len(warm)
    last, stalled_since = -1, time.monotonic()
    while True:
        got = await _subscriber_count(sub)
        if got >= expected:
            break
        if got != last:
            last, stalled_since = got, time.monotonic()
        elif time.monotonic() - stalled_since > 3.0:
            break
        await asyncio.sleep(0.1)
    cpu1 = proc.cpu_times()
    wall1 = time.monotonic()
    data = await _stop_subscriber(sub)
    received: dict[int, float] = {}
    duplicates = 0
    for seq, t in zip(data["seq"], data["t"], strict=True):
        s = int(seq)
        if s >= WARMUP_SEQ:
            continue
        if s in received:
            duplicates += 1
            continue
        received[s] = t
    latencies = [1000 * (t - send_time[s]) for s, t in received.items() if s in send_time]
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    n = len(received)
    return E2EResult(
        target_rate=rate,
        batch=batch,
        sent=len(send_time),
        received=n,
        lost=len(send_time) - n,
        duplicates=duplicates,
        send_seconds=log.seconds,
        achieved_rate=n / log.seconds if log.seconds else 0.0,
        p50_ms=_pct(latencies, 0.50),
        p99_ms=_pct(latencies, 0.99),
        max_ms=max(latencies) if latencies else float("nan"),
        daemon_cpu_pct=100 * cpu / (wall1 - wall0),
        cpu_us_per_event=1e6 * cpu / n if n else float("nan"),
    )


async def run(
    rates: list[int],
    duration_s: float,
    *,
    profile: Path | None = None,
    daemon_args: Sequence[str] = (),
) -> tuple[list[E2EResult], float | None]:
    """All rates against one daemon; returns the results and its start-up time."""
    results: list[E2EResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp,
        procs.mosquitto(Path(tmp)) as port,
    ):
        # The bench holds sockets open for minutes: no heartbeat-timeout surprises.
        sim = TikTokSimulator(config=SimConfig(heartbeat_timeout_s=120, viewer_updates_s=10.0))
        await sim.start()
        try:
            room = sim.add_user(STREAMER, live=True)
            cfg = Path(tmp) / "config.yaml"
            cfg.write_text(procs.config_text(port, sim.endpoints, [STREAMER], Path(tmp)))
            daemon = await asyncio.to_thread(
                procs.start_daemon, cfg, profile=profile, extra_args=daemon_args
            )
            try:
                await room.wait_entered(1, 30)
                await asyncio.sleep(0.5)
                seq0 = 1
                for rate in rates:
                    results.append(await one_rate(room, daemon, port, rate, duration_s, seq0))
                    seq0 += 10_000_000
            finally:
                err = await asyncio.to_thread(procs.stop_daemon, daemon)
                if err.strip():
                    print(err.strip()[-2000:])
        finally:
            await sim.stop()
    return results, daemon.ready_after_s


def summary(results: list[E2EResult]) -> str:
    lines = []
    for r in results:
        lines.append(
            f"  {r.target_rate:>6}/s: {r.achieved_rate:8.0f} ev/s received, "
            f"lost {r.lost}/{r.sent}, "
            f"p50 {r.p50_ms:.1f} ms p99 {r.p99_ms:.1f} ms max {r.max_ms:.1f} ms, "
            f"daemon {r.daemon_cpu_pct:.0f}% CPU, {r.cpu_us_per_event:.0f} µs/event"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # ad-hoc: python -m bench.e2e
    res, ready = asyncio.run(run([100, 1000, 10000], 5))
    print(summary(res), f"ready {ready}", statistics.mean([1.0]))
