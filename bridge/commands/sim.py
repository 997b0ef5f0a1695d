"""`tiktok2mqtt sim`: run the TikTok simulator standalone and print the endpoints to configure.

    tiktok2mqtt sim --port 8787 --user alice --user bob --scenario demo

Every ``--user`` is live from the start; with ``--scenario demo`` the first user streams the
scripted demo session (looping). Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from bridge.service.signals import stop_on_shutdown_signals
from bridge.sim import SimConfig, TikTokSimulator, demo_session

NAME = "sim"
HELP = "run a local simulated TikTok (HTTP, sign server and push socket on one port)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--user", action="append", default=[], metavar="NAME", help="a live streamer (repeatable)"
    )
    parser.add_argument(
        "--scenario", choices=["demo"], help="play a scripted session on the first user"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="scenario speed factor (default 1)"
    )
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=30.0,
        help="close sockets without hb for this long",
    )


def run(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


async def _serve(args: argparse.Namespace) -> None:
    users = [u.lstrip("@") for u in args.user] or ["sim_streamer"]
    timeout = args.heartbeat_timeout
    # Announce an interval the client can keep within the timeout (TikTok's default is 10 s).
    # Live rooms send their viewer count every 10 s, as TikTok's do.
    config = SimConfig(
        heartbeat_timeout_s=timeout, ping_interval_s=min(10.0, timeout / 3), viewer_updates_s=10.0
    )
    sim = TikTokSimulator(args.host, args.port, config=config)
    async with sim:
        for user in users:
            sim.add_user(user, live=args.scenario is None or user != users[0])
        print(f"TikTok simulator on {sim.base_url} — streamers: {', '.join(users)}", flush=True)
        print(sim.config_yaml(), flush=True)
        stop = asyncio.Event()
        stop_on_shutdown_signals(stop)
        player = asyncio.create_task(_scenario_loop(sim, args, users[0])) if args.scenario else None
        await stop.wait()
        if player is not None:
            player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await player


async def _scenario_loop(sim: TikTokSimulator, args: argparse.Namespace, user: str) -> None:
    while True:
        await sim.play(demo_session(user), speed=args.speed)
        sim.room(user).end()
