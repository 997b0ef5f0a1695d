"""``python -m bench.cluster_cost`` — what the cluster layer costs per watched streamer.

One instance (a ``ClusterNode`` whose listener does nothing, so only coordination is
measured) holds the leases of N streamers on a real redis-server of its own; for each N,
side by side in one run against N = 0: the instance's CPU time (process time) and
redis-server's CPU time (from /proc) per second, over a window after every lease was taken.
The watching itself costs what bench/RESULTS.md §3 reports for a single instance; this is
what a cluster adds on top. Options: --streamers (list), --ttl, --window.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bridge.cluster import ClusterNode, ClusterSettings, StopReason, StreamerEntry


class _Quiet:
    async def start_watching(self, user: str, token: int) -> None:
        return None

    async def stop_watching(self, user: str, reason: StopReason) -> None:
        return None


@dataclass(frozen=True)
class Cost:
    streamers: int
    node_ms_per_s: float  # CPU of the instance's process per second of wall time
    redis_ms_per_s: float


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(port: int, redis_pid: int, count: int, ttl: float, window: float) -> Cost:
    settings = ClusterSettings(
        instance="bench", url=f"redis://127.0.0.1:{port}/0", lease_ttl_s=ttl,
        key_prefix=f"bench-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    node = ClusterNode(settings, _Quiet())
    await node.start(StreamerEntry(f"s{i:05d}") for i in range(count))
    try:
        async with asyncio.timeout(3 * ttl + 30):  # the first leases wait one TTL (warm-up)
            while len(node.owned) < count:  # noqa: ASYNC110 - the node has no event for it
                await asyncio.sleep(0.1)
        cpu0, redis0, wall0 = time.process_time(), _proc_cpu_s(redis_pid), time.monotonic()
        await asyncio.sleep(window)
        wall = time.monotonic() - wall0
        node_ms = (time.process_time() - cpu0) * 1000 / wall
        redis_ms = (_proc_cpu_s(redis_pid) - redis0) * 1000 / wall
    finally:
        await node.close()
    return Cost(count, node_ms, redis_ms)


async def _run_all(port: int, pid: int, counts: list[int], ttl: float, window: float) -> list[Cost]:
    await asyncio.sleep(0.5)  # redis-server accepts connections
    return [await _measure(port, pid, n, ttl, window) for n in counts]


def run(counts: list[int], ttl: float, window: float) -> list[Cost]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = _free_port()
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            return asyncio.run(_run_all(port, proc.pid, counts, ttl, window))
        finally:
            proc.terminate()
            proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_cost")
    parser.add_argument("--streamers", default="0,200,2000")
    parser.add_argument("--ttl", type=float, default=15.0, help="lease TTL (renewal: TTL / 3)")
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured per N")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.streamers.split(",")]
    costs = run(counts, args.ttl, args.window)
    base = costs[0]
    print(f"lease TTL {args.ttl:g} s, renewal every {args.ttl / 3:g} s; "
          f"{args.window:g} s measured per row")  # fmt: skip
    print("| streamers | instance CPU ms/s | Redis CPU ms/s | instance µs/s per streamer "
          "| Redis µs/s per streamer |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: |")
    for c in costs:
        per = max(1, c.streamers)
        node = (c.node_ms_per_s - base.node_ms_per_s) * 1000 / per if c.streamers else 0.0
        redis = (c.redis_ms_per_s - base.redis_ms_per_s) * 1000 / per if c.streamers else 0.0
        print(f"| {c.streamers} | {c.node_ms_per_s:.2f} | {c.redis_ms_per_s:.2f} | "
              f"{node:.1f} | {redis:.1f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
