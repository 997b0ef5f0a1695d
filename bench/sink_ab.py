"""QoS 0 publish path A/B (issue 16): ``python -m bench.sink_ab [--rates ...] [--seconds S]``.

The e2e bench (bench/e2e.py: simulator → WebSocket → daemon → mosquitto → subscriber) run
twice per round in one process: the daemon with the previous path (each event through
``paho.publish``: bench/legacy_sink.py, ``--qos0-path paho``) and with the current one
(bridge/mqtt/fastpath.py). Rounds alternate which path goes first, so drift in the
machine's load hits both. The machine's load average is printed with the table: the
figure to compare is the daemon's CPU µs per event (its own process time), which
background load disturbs least. Prints a Markdown table; nothing is written.

``--sink-only``: the sink alone in this process (no simulator, no decode), publishing chat
JSON in frames of 10 over one connection to a private mosquitto, the two paths alternating
pass by pass; CPU = this process's time per event.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import types
from pathlib import Path

from bench import e2e, legacy_sink, procs
from bench.report import _sustained
from bridge.mqtt.sink import MqttSink
from bridge.settings.mqtt import MqttSettings

PATHS = {"paho (before)": ["--qos0-path", "paho"], "fastpath (after)": []}


async def main_async(rates: list[int], seconds: float, rounds: int) -> None:
    rows: list[tuple[int, str, e2e.E2EResult]] = []
    loads = [os.getloadavg()[0]]
    for n in range(rounds):
        order = list(PATHS.items()) if n % 2 == 0 else list(reversed(PATHS.items()))
        for name, args in order:
            results, _ = await e2e.run(rates, seconds, daemon_args=args)
            rows += [(n, name, r) for r in results]
            print(f"round {n + 1} {name}:\n{e2e.summary(results)}", flush=True)
            loads.append(os.getloadavg()[0])
    print(f"\nload average (1 min) during the run: {min(loads):.1f}–{max(loads):.1f}\n")
    print(
        "| offered/s | path | round | received/s | sustained/s | lost / sent | p50 ms "
        "| p99 ms | daemon CPU % | CPU µs/event |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for rate in rates:
        for n, name, r in rows:
            if r.target_rate != rate:
                continue
            print(
                f"| {rate:,} | {name} | {n + 1} | {r.achieved_rate:,.0f} | "
                f"{_sustained(_as_dict(r)):,.0f} | {r.lost:,} / {r.sent:,} | {r.p50_ms:.1f} | "
                f"{r.p99_ms:.1f} | {r.daemon_cpu_pct:.0f} | {r.cpu_us_per_event:.0f} |"
            )


# A chat event's JSON as the daemon publishes it (bridge/events/model.py, to_dict + streamer).
_CHAT = {
    "type": "chat",
    "ts": "2026-12-04T20:31:12.123Z",
    "user": {
        "id": "7234567890123456789",
        "unique_id": "someone",
        "nickname": "Some One ✨",
        "follow_role": 0,
        "is_moderator": False,
        "badges": [],
        "gifter_level": 3,
    },
    "comment": "hello world",
    "msg_id": "7300000000000000001",
    "streamer": "bench_streamer",
}


async def _sink_pass(sink: MqttSink, frames: int, per_frame: int) -> float:
    """CPU seconds (this process) to publish frames × per_frame events, JSON included."""
    cpu0 = time.process_time()
    for _ in range(frames):
        for i in range(per_frame):
            sink.publish_event("bench/bench_streamer/chat", {**_CHAT, "seq": i})
        await asyncio.sleep(0)  # a frame's events, then the loop: as the reader does
    await sink.wait_idle()
    return time.process_time() - cpu0


async def sink_only(events: int, passes: int) -> None:
    """The sink alone in this process, both QoS 0 paths on one connection, alternating."""
    per_frame = 10
    frames = events // per_frame
    with (
        tempfile.TemporaryDirectory(prefix="bench-sink-") as tmp,
        procs.mosquitto(Path(tmp)) as port,
    ):
        sink = MqttSink(
            MqttSettings(server=f"mqtt://127.0.0.1:{port}", base_topic="bench", buffer_size=events),
            will_topic="bench/bridge/state",
        )
        task = asyncio.create_task(sink.run())
        await sink.wait_connected()
        fast = sink._publish_qos0_run
        paths = {
            "paho (before)": types.MethodType(legacy_sink.publish_qos0_run_paho, sink),
            "fastpath (after)": fast,
        }
        await _sink_pass(sink, frames // 4, per_frame)  # warm-up
        best: dict[str, list[float]] = {name: [] for name in paths}
        for n in range(passes):
            names = list(paths) if n % 2 == 0 else list(reversed(paths))
            for name in names:
                sink._publish_qos0_run = paths[name]  # type: ignore[method-assign]
                best[name].append(await _sink_pass(sink, frames, per_frame))
        await sink.close()
        await task
    load = os.getloadavg()[0]
    print(
        f"\nsink alone, {events:,} QoS 0 events in frames of {per_frame}, JSON included, "
        f"min/median of {passes} passes (load average {load:.1f}):\n"
    )
    print("| path | CPU µs/event (min) | (median) |")
    print("| --- | --- | --- |")
    for name, cpu in best.items():
        cpu.sort()
        print(f"| {name} | {1e6 * cpu[0] / events:.1f} | {1e6 * cpu[len(cpu) // 2] / events:.1f} |")


def _as_dict(r: e2e.E2EResult) -> dict[str, float]:
    return {
        "send_seconds": r.send_seconds,
        "max_ms": r.max_ms,
        "received": r.received,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sink_ab", description=__doc__)
    parser.add_argument("--rates", default="2000,4000,8000,10000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--sink-only", action="store_true", help="the sink alone, in-process")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--passes", type=int, default=7)
    args = parser.parse_args()
    if args.sink_only:
        asyncio.run(sink_only(args.events, args.passes))
        return 0
    rates = [int(r) for r in args.rates.split(",")]
    asyncio.run(main_async(rates, args.seconds, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
