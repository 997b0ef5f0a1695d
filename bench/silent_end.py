"""How long a stream that ends without a control message keeps `live` ON, with default settings.

``python -m bench.silent_end [--repeat N] [--silent-check S]``

A streamer's app is killed (or its connection dropped): TikTok sends no ControlMessage.
For each connection mode (direct, sign_server) one daemon (the real ``Bridge`` with the
configuration file's defaults, except endpoints) watches six streamers against the simulator:
configured by name or by room id, times three ways the socket behaves after the end (cut
without a close frame, closed with one, left open answering heartbeats). Every live room
sends its viewer count every 10 s, as TikTok's do. When all are connected and settled, the
streams end (``SimRoom.end_silently``) and the time until ``<user>/live`` turns OFF is taken
from the bench's own MQTT subscriber.

The simulator flips the room status to "ended" at once; TikTok may report a killed stream
as live for a while longer, which adds to these times (docs/protocol.md §5.7).
Nothing here is a test: the figures are printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from bench import procs
from bridge.config import Config, load_config_text
from bridge.core.app import Bridge
from bridge.sim import SimConfig, TikTokSimulator
from bridge.sim import messages as m

SOCKETS = ("dropped", "closed", "open")
MODES = ("direct", "sign_server")
VIEWER_UPDATES_S = 10.0


@dataclass(frozen=True, slots=True)
class Case:
    mode: str
    pinned: bool
    socket: str

    @property
    def user(self) -> str:
        return f"{'room' if self.pinned else 'name'}_{self.socket}"


def cases(mode: str) -> Iterator[Case]:
    for pinned in (False, True):
        for socket in SOCKETS:
            yield Case(mode, pinned, socket)


def config_text(port: int, sim: TikTokSimulator, mode: str, state: Path, extra: str) -> str:
    lines = []
    for case in cases(mode):
        room = sim.room(case.user)
        lines.append(f"  - user: {case.user}\n")
        if case.pinned:
            lines.append(f"    room_id: {room.room_id}\n")
    return (
        textwrap.dedent(
            f"""\
            mqtt:
              server: mqtt://127.0.0.1:{port}
              base_topic: {procs.BASE_TOPIC}
            homeassistant:
              enabled: false
            tiktok:
              connection: {mode}
            """
        )
        + sim.config_yaml().removeprefix("tiktok:\n")
        + extra
        + f"service:\n  state_dir: {state}\nstreamers:\n"
        + "".join(lines)
    )


async def measure(mode: str, port: int, extra: str) -> dict[Case, float]:
    sim = TikTokSimulator(config=SimConfig(viewer_updates_s=VIEWER_UPDATES_S))
    async with sim:
        for case in cases(mode):
            sim.add_user(case.user, live=True)
        with tempfile.TemporaryDirectory() as tmp:
            text = config_text(port, sim, mode, Path(tmp), extra)
            config = load_config_text(text, base_dir=Path(tmp), env={})
            return await _run(sim, config, mode, port)


async def _run(sim: TikTokSimulator, config: Config, mode: str, port: int) -> dict[Case, float]:
    bridge = Bridge(config)
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    ended_at: dict[str, float] = {}
    off_after: dict[str, float] = {}
    all_cases = list(cases(mode))
    try:
        async with aiomqtt.Client("127.0.0.1", port=port) as client:
            await client.subscribe(f"{procs.BASE_TOPIC}/+/live")
            await client.subscribe(f"{procs.BASE_TOPIC}/+/state")
            connected: set[str] = set()
            ender: asyncio.Task[None] | None = None
            async for message in client.messages:
                user = message.topic.value.split("/")[1]
                payload = bytes(message.payload or b"")
                if message.topic.value.endswith("/state") and b'"status":"connected"' in payload:
                    connected.add(user)
                if message.topic.value.endswith("/live") and payload == b"OFF" and user in ended_at:
                    off_after.setdefault(user, time.monotonic() - ended_at[user])
                if ender is None and len(connected) == len(all_cases):
                    ender = asyncio.create_task(_end_streams(sim, all_cases, ended_at))
                if len(off_after) == len(all_cases):
                    break
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)
    return {case: off_after[case.user] for case in all_cases}


async def _end_streams(
    sim: TikTokSimulator, all_cases: list[Case], ended_at: dict[str, float]
) -> None:
    """End every stream silently. One after another, 10 s apart, except the sockets left open
    (they end first, together): streams do not all end in the same second, and the shared
    call budget (30 a minute) would otherwise be what is measured."""
    for case in all_cases:
        sim.room(case.user).push(m.viewers(12, 40))
    await asyncio.sleep(15.0)  # the budget refills after the start-up calls
    first = [c for c in all_cases if c.socket == "open"]
    rest = [c for c in all_cases if c.socket != "open"]
    for batch in ([*first, rest[0]], *([c] for c in rest[1:])):
        for case in batch:
            ended_at[case.user] = time.monotonic()
            sim.room(case.user).end_silently(case.socket)
        await asyncio.sleep(10.0)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.silent_end")
    parser.add_argument("--repeat", type=int, default=1, help="rounds per mode (default 1)")
    parser.add_argument(
        "--silent-check",
        type=float,
        default=None,
        help="tiktok.supervision.silent_check_s (default: the setting's default)",
    )
    args = parser.parse_args()
    extra = ""
    if args.silent_check is not None:
        extra = f"  supervision:\n    silent_check_s: {args.silent_check}\n"
    results: dict[Case, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, procs.mosquitto(Path(tmp)) as port:
        for _ in range(args.repeat):
            for mode in MODES:
                for case, seconds in asyncio.run(measure(mode, port, extra)).items():
                    results.setdefault(case, []).append(seconds)
    print("| mode | configured by | socket after the end | time to live OFF (s) |")
    print("| --- | --- | --- | --- |")
    for case, values in results.items():
        figure = f"{statistics.median(values):.2f}"
        if len(values) > 1:
            figure += f" (max {max(values):.2f})"
        by = "room id" if case.pinned else "name"
        print(f"| {case.mode} | {by} | {case.socket} | {figure} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
