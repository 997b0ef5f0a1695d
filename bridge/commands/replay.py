"""`tiktok2mqtt replay FILE`: play a recording through the simulator and the real bridge.

    tiktok2mqtt replay bug-1234.t2mr --fast            # to localhost, base topic tiktok-replay
    tiktok2mqtt replay evening.t2mr -c config.yaml     # your broker, topics and streamer options

A simulated room re-sends the recorded batches (same messages, same msg_ids) at the
recorded pace (``--speed``) or as fast as possible (``--fast``); the bridge watches that
room through the real client, exactly like a live TikTok room, and publishes to MQTT.
A stream end in the recording ends the simulated room; later batches start a new stream.
Reads plain length-prefixed captures too (no timestamps: played as fast as possible).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from bridge.commands.demo import (
    EXIT_UNAVAILABLE,
    add_common_arguments,
    mqtt_from_url,
    open_view,
    simulated_bridge,
)
from bridge.commands.live_view import LiveView
from bridge.config import Config, ConfigInvalid, load_config
from bridge.core.app import Bridge
from bridge.settings.mqtt import MqttSettings
from bridge.settings.names import normalise_unique_id
from bridge.settings.streamer import DEFAULT_EVENTS
from bridge.sim import SimRoom
from bridge.sim import messages as m
from bridge.tiktok.frames import FrameError
from bridge.tiktok.pb import webcast_pb2 as pb
from bridge.tiktok.recording import (
    Recording,
    RecordingError,
    events_in,
    read_recording,
    to_batch,
)

NAME = "replay"
HELP = "replay a recording (or a plain frame capture) through the simulator and the bridge to MQTT"

EXIT_DATAERR = 65  # sysexits EX_DATAERR: not a readable recording
DEFAULT_STREAMER = "replay"
# TikTok ControlMessage actions that end a stream (3 by the streamer, 4 by moderation).
_END_ACTIONS = frozenset({3, 4})


@dataclass(slots=True)
class ReplayStats:
    batches: int = 0
    messages: int = 0
    skipped: int = 0  # undecodable records
    streams: int = 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="recording (tiktok2mqtt record) or plain capture")
    parser.add_argument(
        "-c", "--config", metavar="FILE",
        help="use this file's broker, base topic and streamer options (TikTok endpoints are "
        "replaced by the simulator)",
    )  # fmt: skip
    parser.add_argument(
        "--mqtt", metavar="URL", help="broker (default: the config's, or localhost)"
    )
    parser.add_argument("--base-topic", help="base topic (default: the config's, or tiktok-replay)")
    parser.add_argument(
        "--streamer", help="streamer name to publish as (default: the recorded one)"
    )
    parser.add_argument("--fast", action="store_true", help="no pauses: replay as fast as possible")
    add_common_arguments(parser, speed=1.0, speed_note=": the recorded pace")


def run(args: argparse.Namespace) -> int:
    try:
        recording = read_recording(args.file)
    except (OSError, RecordingError) as exc:
        print(f"tiktok2mqtt replay: {args.file}: {exc}", file=sys.stderr)
        return EXIT_DATAERR
    if not events_in(recording):
        print(
            f"tiktok2mqtt replay: {args.file}: nothing to replay: none of its "
            f"{len(recording.records)} records carries a message",
            file=sys.stderr,
        )
        return EXIT_DATAERR
    try:
        args.streamer = normalise_unique_id(args.streamer or recording.streamer or DEFAULT_STREAMER)
    except ValueError as exc:
        print(f"tiktok2mqtt replay: {exc} (use --streamer NAME)", file=sys.stderr)
        return 2
    try:
        base = load_config(args.config) if args.config else None
    except ConfigInvalid as exc:
        from bridge.commands.check_config import print_invalid

        return print_invalid(exc)
    return asyncio.run(_main(args, recording, base))


def replay_mqtt(args: argparse.Namespace, base: Config | None) -> MqttSettings:
    """Broker settings: the config's (own client id), overridden by --mqtt / --base-topic."""
    if args.mqtt or base is None:
        mqtt = mqtt_from_url(args.mqtt or "mqtt://localhost:1883", base_topic="tiktok-replay",
                             client_id="tiktok2mqtt-replay")  # fmt: skip
        if base is not None:
            mqtt = dataclasses.replace(mqtt, base_topic=base.mqtt.base_topic)
    else:
        # Never the daemon's client id: the broker would disconnect the running bridge.
        mqtt = dataclasses.replace(base.mqtt, client_id=f"{base.mqtt.client_id}-replay")
    if args.base_topic:
        mqtt = dataclasses.replace(mqtt, base_topic=args.base_topic)
    return mqtt


async def _main(args: argparse.Namespace, recording: Recording, base: Config | None) -> int:
    try:
        mqtt = replay_mqtt(args, base)
    except ValueError as exc:
        print(f"tiktok2mqtt replay: {exc}", file=sys.stderr)
        return 2
    view = await open_view(mqtt, args)
    if view is None:
        return EXIT_UNAVAILABLE
    streamer = args.streamer or recording.streamer or DEFAULT_STREAMER
    speed = math.inf if args.fast else args.speed
    try:
        stats = await replay(recording, mqtt=mqtt, streamer=streamer, speed=speed, base=base,
                             view=view)  # fmt: skip
    finally:
        await view.stop()
    print(
        f"replayed {stats.batches} batches ({stats.messages} messages, {stats.streams} "
        f"stream(s)); {stats.skipped} undecodable records skipped",
        file=sys.stderr,
    )
    view.print_summary(f"{mqtt.base_topic}/{streamer}/#", mqtt)
    return 0


async def replay(
    recording: Recording,
    *,
    mqtt: MqttSettings,
    streamer: str,
    speed: float = math.inf,
    base: Config | None = None,
    view: LiveView | None = None,
) -> ReplayStats:
    """Simulator + real bridge; returns once the replayed stream ended and was published."""
    events = _events_of(base, streamer)
    simulated = simulated_bridge(streamer, mqtt=mqtt, events=events, base=base, speed=speed)
    async with simulated as (sim, bridge):
        stats = await feed(sim.room(streamer), recording, speed=speed)
        await _published(bridge, streamer)
        if view is not None:  # let the view print the end before the bridge stops
            live = bridge.topics.streamer(streamer).live
            await view.wait_for(live, b"OFF", timeout_s=5.0)
    return stats


async def _published(bridge: Bridge, streamer: str, within: float = 15.0) -> None:
    """Until the bridge has ended the replayed stream and the broker has every publish."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            # Polled: the Bridge has no public signal for "stream ended" (report: wanted hook).
            while bridge.supervisor(streamer).live_room_id is not None:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            await bridge.sink.wait_idle()


def _events_of(base: Config | None, streamer: str) -> tuple[str, ...]:
    configured = base.streamer(streamer) if base is not None else None
    return configured.events if configured is not None else DEFAULT_EVENTS


async def feed(room: SimRoom, recording: Recording, *, speed: float) -> ReplayStats:
    """Push every recorded batch into ``room`` at the recorded pace divided by ``speed``."""
    stats = ReplayStats()
    loop = asyncio.get_running_loop()
    start = loop.time()
    recorded_room: int | None = None
    for record in recording.records:
        try:
            batch = to_batch(record)
        except FrameError:
            stats.skipped += 1
            continue
        if batch is None or not batch.messages:
            continue
        if math.isfinite(speed):
            await asyncio.sleep(max(0.0, start + record.t_us / 1e6 / speed - loop.time()))
        batch_room = _room_of(batch)
        if room.live and batch_room and recorded_room and batch_room != recorded_room:
            await _go_offline(room)  # a new room id in the recording: the old stream is over
        if not room.live:
            await _go_live(room, stats)
        recorded_room = batch_room or recorded_room
        _push(room, batch, stats)
        await room.drain()
        if _ends_stream(batch):
            await _go_offline(room)
    if room.live:
        await _go_offline(room)  # the bridge flushes open streaks and like windows on end
    return stats


def _push(room: SimRoom, batch: pb.FetchResult, stats: ReplayStats) -> None:
    room.push(*[(msg.method, msg.payload) for msg in batch.messages])
    stats.batches += 1
    stats.messages += len(batch.messages)


async def _go_live(room: SimRoom, stats: ReplayStats) -> None:
    room.go_live()
    stats.streams += 1
    # TikTok does not queue for absent clients, nor does the simulator: wait for the bridge.
    await room.wait_entered(1, 30.0)


async def _go_offline(room: SimRoom) -> None:
    """End the room without a control message of our own (the recording has its own)."""
    room.end(control=False)
    await room.wait_closed(10.0)


def _room_of(batch: pb.FetchResult) -> int | None:
    for msg in batch.messages:
        room_id = m.common_of(msg.payload)[2]
        if room_id:
            return room_id
    return None


def _ends_stream(batch: pb.FetchResult) -> bool:
    for msg in batch.messages:
        if msg.method == m.CONTROL:
            control = pb.ControlMessage()
            try:
                control.ParseFromString(msg.payload)
            except Exception:  # a damaged control message ends nothing
                continue
            if control.action in _END_ACTIONS:
                return True
    return False
