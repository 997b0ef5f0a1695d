"""QoS 0 publish path A/B (issue 16): ``python -m bench.sink_ab [--rates ...] [--seconds S]``.

The e2e bench (bench/e2e.py: simulator → WebSocket → daemon → mosquitto → subscriber) run
twice per round in one process: the daemon with the previous path (each event through
``paho.publish``: bench/legacy_sink.py, ``--qos0-path paho``) and with the current one
(bridge/mqtt/fastpath.py). Rounds alternate which path goes first, so drift in the
machine's load hits both. The machine's load average is printed with the table: the
figure to compare is the daemon's CPU µs per event (its own process time), which
background load disturbs least. Prints a Markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from bench import e2e
from bench.report import _sustained

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
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    asyncio.run(main_async(rates, args.seconds, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
