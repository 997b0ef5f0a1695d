#!/usr/bin/env python3
"""Connect the TikTok client to the simulator and print the decoded events (no MQTT).

    .venv/bin/python scripts/print-events.py                  # built-in simulator, demo session
    .venv/bin/python scripts/print-events.py --speed 20
    .venv/bin/python scripts/print-events.py --sim http://127.0.0.1:8787 --user alice

The smallest use of the library layers: bridge.tiktok finds the live room and opens the
push socket, bridge.events turns each batch into typed events. Against real TikTok, build
TikTokSettings() with its default endpoints instead of the simulator's (see README).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

from bridge.events.processor import StreamProcessor
from bridge.settings.tiktok import Endpoints, TikTokSettings
from bridge.sim import TikTokSimulator, demo_session
from bridge.tiktok.client import TikTokClient
from bridge.tiktok.errors import ConnectionLost


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", metavar="URL", help="a running `tiktok2mqtt sim` (default: own)")
    parser.add_argument("--user", default="sim_streamer", help="streamer to watch")
    parser.add_argument("--speed", type=float, default=10.0, help="demo session speed (built-in)")
    return parser.parse_args()


@contextlib.asynccontextmanager
async def simulator(args: argparse.Namespace) -> AsyncIterator[Endpoints]:
    """The endpoints to use: an external simulator's, or a built-in one playing the demo."""
    if args.sim:
        base = args.sim.rstrip("/")
        yield Endpoints(www=base, webcast=base, sign_server=base, websocket="ws" + base[4:])
        return
    async with TikTokSimulator() as sim:
        sim.add_user(args.user, live=True)
        player = asyncio.create_task(play_then_end(sim, args))
        try:
            yield sim.endpoints
        finally:
            player.cancel()


async def play_then_end(sim: TikTokSimulator, args: argparse.Namespace) -> None:
    room = sim.room(args.user)
    await room.wait_entered(1, 30.0)  # the simulator, like TikTok, does not queue for absentees
    session = demo_session(args.user)
    session.steps = [s for s in session.steps if s.at < 96]  # the first stream only
    await sim.play(session, speed=args.speed)
    await asyncio.sleep(0.5)
    room.end()


async def watch(endpoints: Endpoints, user: str) -> None:
    client = TikTokClient(TikTokSettings(connection="direct", endpoints=endpoints))
    try:
        status = await client.resolve(user)
        print(f"@{user}: room {status.room_id}, live={status.live}", flush=True)
        if not status.live or not status.room_id:
            return
        processor = StreamProcessor(
            status.room_id, like_window_s=1.0, gift_streak_timeout_s=10.0, gift_progress=False
        )
        with contextlib.suppress(ConnectionLost):  # the stream ended: the socket closes
            async with client.open_push(status.room_id, user=user) as session:
                async for batch in session:
                    for event in processor.feed(batch, time.monotonic()):
                        print_event(event.to_dict())
        for event in processor.flush():
            print_event(event.to_dict())
    finally:
        await client.aclose()


def print_event(data: dict[str, object]) -> None:
    user = data.get("user")
    who = f"@{user['unique_id']}" if isinstance(user, dict) else "-"
    gift = data.get("gift")
    if isinstance(gift, dict):  # the name is enough for a terminal
        data = {**data, "gift": gift.get("name")}
    extra = {k: v for k, v in data.items() if k in ("text", "count", "total", "current", "gift")}
    details = json.dumps(extra, ensure_ascii=False)
    print(f"{data['type']:<10} {data['event_type']:<13} {who:<14} {details}", flush=True)


async def main() -> None:
    args = parse_args()
    async with simulator(args) as endpoints:
        await watch(endpoints, args.user)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
