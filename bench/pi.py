"""``python -m bench.pi`` — the Raspberry Pi case: pure-Python protobuf, and the daemon on a
fraction of one core, side by side with upb in the same run (bench/RESULTS.md, "Raspberry Pi").

32-bit Raspberry Pi OS and ``arm/v7`` containers get no compiled protobuf wheel from PyPI, so
protobuf runs as pure Python there (docs/install-systemd.md). This bench measures that case
on the bench machine:

* **decode** — the decode bench's corpus (bench/corpus.py: real 2023 payloads, every inner
  message with its own msg_id) decoded by child processes, one per protobuf runtime (upb,
  python) and per source tree (``--before REV``: ``git archive`` of that revision, so before
  and after run in the same minutes): ours with every event type, ours with the default
  event set of a streamer (what the daemon decodes), and the raw protobuf parse of the full
  schema. CPU time of the child, median of repeated passes.
* **e2e** — the e2e bench's path (simulator → WebSocket → daemon → mosquitto → subscriber)
  with the daemon on each runtime, unconfined, and confined to ``--fraction`` of one core
  (bench/confine.py: cgroup CPU quota, else taskset + SIGSTOP/SIGCONT duty cycle) as a
  stand-in for a Pi 3 / Zero 2 W core. Reported: received and sustained events/s, loss,
  latency, and the highest rate that had zero loss and kept up.

Writes ``bench/out/pi.json`` and ``bench/out/pi.md`` (the tables pasted into RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import corpus, e2e, procs
from bench.confine import Confinement
from bench.trees import source_tree
from bridge.sim import SimConfig, TikTokSimulator

REPO = procs.REPO
OUT = REPO / "bench" / "out"
RUNTIMES = ("upb", "python")

# Runs inside each child (any tree: only APIs the base tree has; `topics` where it exists).
DECODE_CHILD = r"""
import gc, json, statistics, struct, sys, time, zlib
from google.protobuf.internal import api_implementation
from bridge.events import StreamProcessor
from bridge.tiktok import frames
from bridge.tiktok.pb import webcast_pb2 as pb

container, min_s = sys.argv[1], float(sys.argv[2])
data = open(container, "rb").read()
frame_list, pos = [], 0
while pos < len(data):
    (size,) = struct.unpack_from("<I", data, pos)
    frame_list.append(data[pos + 4 : pos + 4 + size])
    pos += 4 + size
DEFAULT = None
try:
    from bridge.core.publish import STATE_TOPICS
    from bridge.settings.streamer import DEFAULT_EVENTS
    DEFAULT = STATE_TOPICS | set(DEFAULT_EVENTS)
except ImportError:
    pass  # a tree without the event filter decodes everything anyway

def ours(topics):
    def run():
        kw = {} if topics is None else {"topics": topics}
        proc = StreamProcessor(7301234567890123456, **kw)
        n = e = 0
        now = 1000.0
        for raw in frame_list:
            frame = frames.decode_frame(raw)
            if frame.payload_type != "msg":
                continue
            result = frames.decode_msg_frame(frame)
            n += len(result.messages)
            now += 0.01
            e += len(proc.feed(result, now))
        return n, e + len(proc.flush())
    return run

def raw():
    classes = dict(frames.MESSAGE_TYPES)
    n = 0
    for data_ in frame_list:
        frame = pb.PushFrame.FromString(data_)
        if frame.payload_type != "msg":
            continue
        payload = frame.payload
        if payload[:2] == b"\x1f\x8b":
            payload = zlib.decompress(payload, 31)
        for inner in pb.FetchResult.FromString(payload).messages:
            classes.get(inner.method, pb.CommonOnly).FromString(inner.payload)
            n += 1
    return n, 0

def measure(fn):
    counts = fn()
    times = []
    gc.collect()
    deadline = time.process_time() + min_s
    while len(times) < 3 or time.process_time() < deadline:
        start = time.process_time()
        counts = fn()
        times.append(time.process_time() - start)
    sec = statistics.median(times)
    return {"messages": counts[0], "events": counts[1], "seconds": sec,
            "msgs_per_s": counts[0] / sec}

out = {"runtime": api_implementation.Type(), "all": measure(ours(None)), "raw": measure(raw)}
out["default"] = measure(ours(DEFAULT)) if DEFAULT is not None else out["all"]
print(json.dumps(out))
"""


def child_env(tree: Path, runtime: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(tree), PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=runtime)
    env.pop("WATCHDOG_USEC", None)
    return env


def decode_rows(container: Path, trees: dict[str, Path], min_s: float) -> list[dict[str, Any]]:
    """Every (tree, runtime) decoding the same container, interleaved twice (min kept)."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for _round in range(2):
        for label, tree in trees.items():
            for runtime in RUNTIMES:
                proc = subprocess.run(
                    [sys.executable, "-c", DECODE_CHILD, str(container), str(min_s)],
                    env=child_env(tree, runtime),
                    cwd=tree,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                row = json.loads(proc.stdout)
                assert row["runtime"] == runtime, row["runtime"]
                key = (label, runtime)
                old = best.get(key)
                if old is None or row["default"]["seconds"] < old["default"]["seconds"]:
                    best[key] = {"tree": label, **row}
                print(
                    f"decode {label:6s} {runtime:6s}: all {row['all']['msgs_per_s']:9,.0f} "
                    f"default {row['default']['msgs_per_s']:9,.0f} "
                    f"raw {row['raw']['msgs_per_s']:9,.0f} msg/s"
                )
    return list(best.values())


def start_daemon(config: Path, tree: Path, runtime: str) -> procs.Daemon:
    """bench.daemon of ``tree`` on protobuf ``runtime`` (procs.start_daemon, other tree)."""
    sock_path = Path(tempfile.mkdtemp(prefix="bench-notify-")) / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(sock_path))
    env = child_env(tree, runtime)
    env["NOTIFY_SOCKET"] = str(sock_path)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.daemon", "-c", str(config)],
        env=env,
        cwd=tree,
        stderr=subprocess.PIPE,
    )
    ready = procs._wait_ready(notify, started, 60.0, proc)
    daemon = procs.Daemon(proc, started, ready, notify)
    if ready is None:
        err = procs.stop_daemon(daemon)
        raise RuntimeError(f"daemon never sent READY=1: {err.strip()[-1000:]}")
    return daemon


async def e2e_rows(
    tree: Path, runtime: str, rates: list[int], seconds: float, fraction: float | None
) -> tuple[list[dict[str, Any]], str]:
    """One daemon, the rates one after the other; confined after its start-up."""
    rows: list[dict[str, Any]] = []
    method = "unconfined"
    with (
        tempfile.TemporaryDirectory(prefix="bench-pi-") as tmp,
        procs.mosquitto(Path(tmp)) as port,
    ):
        sim = TikTokSimulator(config=SimConfig(heartbeat_timeout_s=120, viewer_updates_s=10.0))
        await sim.start()
        try:
            room = sim.add_user(e2e.STREAMER, live=True)
            cfg = Path(tmp) / "config.yaml"
            cfg.write_text(procs.config_text(port, sim.endpoints, [e2e.STREAMER], Path(tmp)))
            daemon = await asyncio.to_thread(start_daemon, cfg, tree, runtime)
            try:
                await room.wait_entered(1, 60)
                await asyncio.sleep(0.5)
                cap = Confinement(daemon.pid, fraction) if fraction else contextlib.nullcontext()
                with cap as confined:
                    if isinstance(confined, Confinement):
                        method = confined.method
                    seq0 = 1
                    for rate in rates:
                        r = await e2e.one_rate(room, daemon, port, rate, seconds, seq0)
                        rows.append(asdict(r))
                        seq0 += 10_000_000
                        print(f"  {runtime} {fraction or 1:.0%}: " + e2e.summary([r]).strip())
            finally:
                err = await asyncio.to_thread(procs.stop_daemon, daemon)
                if err.strip():
                    print(err.strip()[-2000:])
        finally:
            await sim.stop()
    return rows, method


def sustained(r: dict[str, Any]) -> float:
    """As bench/report.py: events/s from the first send to the last arrival."""
    span = r["send_seconds"] + (r["max_ms"] / 1000 if r["max_ms"] == r["max_ms"] else 0.0)
    return float(r["received"] / span) if span > 0 else 0.0


def best_rate(rows: list[dict[str, Any]]) -> int:
    """Highest offered rate with zero loss that was kept up (sustained ≥ 95 % of it)."""
    good = [
        r["target_rate"] for r in rows if r["lost"] == 0 and sustained(r) >= 0.95 * r["target_rate"]
    ]
    return max(good, default=0)


def render(data: dict[str, Any]) -> str:
    lines = [
        f"Command: `{data['command']}`; {data['date']}; load average at start "
        f"{data['load']}. Confinement: {data['method']}.",
        "",
        "Decode (corpus of the decode bench: "
        f"{data['frames']} frames, {data['messages']:,} inner messages, every one with its own "
        "msg_id; CPU time of one child process per row, best of two interleaved rounds):",
        "",
        "| tree | protobuf | ours, every event type msg/s | ours, default event set msg/s "
        "| raw parse (full schema) msg/s | ours (default) / raw time |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in data["decode"]:
        ratio = row["default"]["seconds"] / row["raw"]["seconds"]
        lines.append(
            f"| {row['tree']} | {row['runtime']} | {row['all']['msgs_per_s']:,.0f} | "
            f"{row['default']['msgs_per_s']:,.0f} | {row['raw']['msgs_per_s']:,.0f} | "
            f"{ratio:.2f}× |"
        )
    lines += [
        "",
        "End to end (chats, 10 per frame; the daemon's protobuf runtime and CPU as given; "
        f"{data['seconds']:g} s per rate):",
        "",
        "| tree | protobuf | CPU | offered/s | received/s | sustained/s | lost / sent "
        "| p50 ms | p99 ms | daemon CPU % | CPU µs/event |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in data["e2e"]:
        cpu = f"{run['fraction']:.0%} of a core" if run["fraction"] else "unconfined"
        for r in run["rows"]:
            lines.append(
                f"| {run['tree']} | {run['runtime']} | {cpu} | {r['target_rate']:,} | "
                f"{r['achieved_rate']:,.0f} | {sustained(r):,.0f} | "
                f"{r['lost']:,} / {r['sent']:,} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                f"{r['daemon_cpu_pct']:.0f} | {r['cpu_us_per_event']:.0f} |"
            )
    lines += [
        "",
        "| tree | protobuf | CPU | highest zero-loss rate kept up |",
        "| --- | --- | --- | --- |",
    ]
    for run in data["e2e"]:
        cpu = f"{run['fraction']:.0%} of a core" if run["fraction"] else "unconfined"
        lines.append(f"| {run['tree']} | {run['runtime']} | {cpu} | {best_rate(run['rows']):,}/s |")
    return "\n".join(lines) + "\n"


async def run_e2e(args: argparse.Namespace, trees: dict[str, Path]) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    plan: list[tuple[str, str, float | None, list[int]]] = []
    for label in trees:
        for runtime in RUNTIMES:
            plan.append((label, runtime, args.fraction, args.confined_rates))
        plan.append((label, "python", None, args.rates))
    for label, runtime, fraction, rates in plan:
        print(f"e2e {label} {runtime} {'confined' if fraction else 'unconfined'}: {rates}")
        rows, method = await e2e_rows(trees[label], runtime, rates, args.seconds, fraction)
        runs.append(
            {
                "tree": label,
                "runtime": runtime,
                "fraction": fraction,
                "rows": rows,
                "method": method,
            }
        )
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pi", description=__doc__)
    parser.add_argument("--before", help="also measure this git revision (e.g. main)")
    parser.add_argument("--fraction", type=float, default=0.2, help="share of one core")
    parser.add_argument("--frames", type=int, default=600, help="frames in the decode corpus")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="per decode row")
    parser.add_argument("--seconds", type=float, default=6.0, help="per e2e rate")
    parser.add_argument("--rates", default="1000,2000,4000", help="unconfined, pure Python")
    parser.add_argument("--confined-rates", default="250,500,1000,2000")
    parser.add_argument("--only", default="decode,e2e")
    args = parser.parse_args(argv)
    args.rates = [int(x) for x in args.rates.split(",")]
    args.confined_rates = [int(x) for x in args.confined_rates.split(",")]
    sections = set(args.only.split(","))
    info = corpus.build(args.frames)
    OUT.mkdir(parents=True, exist_ok=True)
    container = OUT / "pi-corpus.bin"
    corpus.write_container(container, info.frames)
    given = argv if argv is not None else sys.argv[1:]
    data: dict[str, Any] = {
        "command": " ".join(["python -m bench.pi", *given]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "frames": len(info.frames),
        "messages": info.messages,
        "seconds": args.seconds,
        "method": "-",
        "decode": [],
        "e2e": [],
    }
    with contextlib.ExitStack() as stack:
        trees = {"after": REPO}
        if args.before:
            trees = {"before": stack.enter_context(source_tree(args.before)), "after": REPO}
        if "decode" in sections:
            data["decode"] = decode_rows(container, trees, args.min_seconds)
        if "e2e" in sections:
            data["e2e"] = asyncio.run(run_e2e(args, trees))
            data["method"] = next((r["method"] for r in data["e2e"] if r["fraction"]), "-")
    (OUT / "pi.json").write_text(json.dumps(data, indent=1))
    text = render(data)
    (OUT / "pi.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
