"""The daemon as the bench runs it: ``tiktok2mqtt run`` plus two politeness overrides.

``python -m bench.daemon -c config.yaml [--profile FILE]`` runs the real daemon code path
(bridge.commands.run: config → logging → Bridge → READY=1 → SIGTERM clean stop). Only two
supervisor throttles that exist to be gentle with TikTok are lifted, because the
simulator needs no gentleness and the bench would otherwise spend minutes waiting:

* ``cold_start_stagger_s`` 2 s → 0 (200 streamers would take 400 s to start);
* ``calls_per_minute`` 30 → 100,000 (each connect costs 3–4 calls).

They change when work happens, not how much work one call or one event costs.
``--profile`` wraps the run in cProfile and dumps the stats on exit (cost bench).
``--qos0-path paho`` runs the previous QoS 0 publish path (bench/legacy_sink.py) for A/B.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses

from bridge.commands import run as run_cmd
from bridge.commands.check_config import print_invalid
from bridge.config import ConfigInvalid, load_config


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.daemon")
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--profile", default=None)
    # Idle at the default poll interval: spreads the streamers' first checks (and so their
    # poll phases) over one interval, as the product's own stagger does.
    parser.add_argument("--stagger", type=float, default=0.0)
    # A/B runs (bench.sink_ab): "paho" puts the pre-fastpath QoS 0 path back.
    parser.add_argument("--qos0-path", choices=("fast", "paho"), default="fast")
    args = parser.parse_args()
    if args.qos0_path == "paho":
        from bench import legacy_sink

        legacy_sink.install()
    try:
        config = load_config(args.config)
    except ConfigInvalid as exc:
        return print_invalid(exc)
    supervisor = dataclasses.replace(
        config.supervisor, cold_start_stagger_s=args.stagger, calls_per_minute=100_000
    )
    config = dataclasses.replace(config, tiktok=config.tiktok.with_supervisor(supervisor))
    if args.profile is None:
        return asyncio.run(run_cmd._daemon(config, args.config))
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return asyncio.run(run_cmd._daemon(config, args.config))
    finally:
        profiler.disable()
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    raise SystemExit(main())
