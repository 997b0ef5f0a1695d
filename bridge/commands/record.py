"""`tiktok2mqtt record STREAMER -o FILE -c config.yaml`: bridge normally and keep the traffic.

Everything the streamer's push session delivers is appended to FILE with timestamps
(bridge.tiktok.recording, docs/recording.md) while the bridge publishes that streamer (and
only it) to MQTT as usual; `tiktok2mqtt replay FILE` plays it back later (bug reports,
testing automations). Nothing recorded (not live, not reachable): no file, exit 1, and why.

The recorder taps the bridge's own session, so TikTok sees one connection, not two: a
second socket to the same room would double the sign-server calls that rate limits count.
Until PushSession offers a raw-frame hook, the tap sees decoded batches (kind 3 records),
not the wire bytes (kind 1).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bridge import __version__
from bridge.commands.check_config import print_invalid
from bridge.commands.run import ENV_CONFIG, secrets_of
from bridge.config import Config, ConfigInvalid, load_config
from bridge.core.app import Bridge
from bridge.mqtt.topics import TopicError, check_name
from bridge.service.logging import setup_logging
from bridge.service.signals import stop_on_shutdown_signals
from bridge.settings.names import normalise_unique_id
from bridge.settings.streamer import StreamerSettings
from bridge.settings.tiktok import TikTokSettings
from bridge.tiktok.budget import CallBudget
from bridge.tiktok.client import PushSession, TikTokClient
from bridge.tiktok.pb import webcast_pb2 as pb
from bridge.tiktok.recording import Kind, RecordingWriter

NAME = "record"
HELP = "bridge one streamer normally and record its push traffic to a file for `replay`"

log = logging.getLogger("bridge.record")
Tap = Callable[[Kind, bytes], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("streamer", help="TikTok user to record (@name or name)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="recording file")
    parser.add_argument(
        "-c", "--config", default="config.yaml", metavar="FILE",
        help=f"configuration file (default: ${ENV_CONFIG} or config.yaml)",
    )  # fmt: skip
    parser.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS",
        help="stop after this long (default: until Ctrl-C)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    try:
        user = check_name(normalise_unique_id(args.streamer), "streamer")
    except (ValueError, TopicError) as exc:
        print(f"tiktok2mqtt record: {exc}", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ConfigInvalid as exc:
        return print_invalid(exc)
    return asyncio.run(_main(config, user, Path(args.output), args.duration))


EXIT_NOTHING = 1  # the streamer was never recorded (not live, or not reachable)


async def _main(config: Config, user: str, output: Path, duration: float | None) -> int:
    redactor = setup_logging(config.logging)
    redactor.register(*secrets_of(config))
    stop = asyncio.Event()
    stop_on_shutdown_signals(stop)
    if duration is not None:
        asyncio.get_running_loop().call_later(duration, stop.set)
    print(f"recording @{user} to {output} (Ctrl-C to stop)", file=sys.stderr)
    result = await record_session(config, user, output, stop)
    if result.count:
        print(f"{result.count} records written to {output}", file=sys.stderr)
        return 0
    await asyncio.to_thread(output.unlink, missing_ok=True)  # a header alone replays nothing
    print(f"tiktok2mqtt record: nothing recorded, no file written: {result.why_empty()}",
          file=sys.stderr)  # fmt: skip
    return EXIT_NOTHING


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a recording session produced, and the streamer's status at its end."""

    count: int  # records written
    user: str
    status: str
    reason: str | None

    def why_empty(self) -> str:
        if self.status == "waiting_for_live":
            return f"@{self.user} was not live while recording"
        if self.reason:
            return f"@{self.user} could not be watched ({self.status}): {self.reason}"
        return f"@{self.user} was never connected (status {self.status})"


async def record_session(config: Config, user: str, output: Path, stop: asyncio.Event) -> Recorded:
    """Bridge ``user`` alone until ``stop``, recording its push traffic to ``output``."""
    header = {
        "streamer": user,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "recorder": f"tiktok2mqtt {__version__}",
        "mode": "sign_server" if config.tiktok.uses_sign_server else "direct",
    }
    with RecordingWriter(output, header) as writer, tempfile.TemporaryDirectory() as scratch:
        bridge = Bridge(recording_config(config, user, Path(scratch)))
        await bridge.client.aclose()  # replaced before it ever opened a connection
        bridge.client = RecordingClient(
            config.tiktok, budget=bridge.budget, user=user, tap=writer.write
        )
        inner_stop = asyncio.Event()
        running = asyncio.create_task(bridge.run(inner_stop))
        waiting = asyncio.create_task(stop.wait())
        await asyncio.wait({running, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if running.done():
            await running  # it only ends early by raising: let that out
        # Read before shutting down: a stopped streamer's status is "stopped".
        state = bridge.supervisor(user).pub.state
        status, reason = state.status, state.reason
        inner_stop.set()
        await running
        return Recorded(writer.count, user, status, reason)


def recording_config(config: Config, user: str, state_dir: Path) -> Config:
    """``config`` watching ``user`` alone (its configured options, else the defaults).

    Home Assistant discovery is left to the daemon: a bridge with one streamer would
    remove the other streamers' devices as stale. Runtime state goes to ``state_dir`` (a
    scratch directory), so streamers the daemon added at runtime are not watched and its
    switches and health file are not touched.
    """
    settings = config.streamer(user) or StreamerSettings(user=user)
    return dataclasses.replace(
        config,
        streamers=(dataclasses.replace(settings, watch=True),),
        homeassistant=dataclasses.replace(config.homeassistant, enabled=False),
        service=dataclasses.replace(
            config.service, state_dir=state_dir, health_file=state_dir / "health"
        ),
    )


class RecordingClient(TikTokClient):
    """The bridge's TikTok client, with push sessions of one streamer tapped."""

    def __init__(
        self, settings: TikTokSettings, *, budget: CallBudget, user: str, tap: Tap
    ) -> None:
        super().__init__(settings, budget=budget)
        self._user = user
        self._tap = tap

    def open_push(self, room_id: int, *, user: str) -> PushSession:
        session = super().open_push(room_id, user=user)
        if normalise_unique_id(user) != self._user:
            return session
        return TappedSession(session, self._tap)


class TappedSession(PushSession):
    """Delegates everything to the client's real session and records what it yields.

    No ``super().__init__()`` on purpose: ``inner`` owns the socket and the statistics;
    this object only shares them (``stats`` is the same object, updated in place).
    """

    def __init__(self, inner: PushSession, tap: Tap) -> None:
        self._inner = inner
        self._tap = tap
        self.room_id = inner.room_id
        self.settings = inner.settings
        self.stats = inner.stats
        self.initial: pb.FetchResult | None = None

    async def __aenter__(self) -> PushSession:
        await self._inner.__aenter__()
        self.initial = self._inner.initial
        self.heartbeat_interval_s = self._inner.heartbeat_interval_s
        if self.initial is not None:
            self._tap(Kind.FETCH_RESULT, self.initial.SerializeToString())
        return self

    async def aclose(self) -> None:  # also what the inherited __aexit__ calls
        await self._inner.aclose()

    def __aiter__(self) -> AsyncIterator[pb.FetchResult]:
        return self._tapped()

    async def _tapped(self) -> AsyncIterator[pb.FetchResult]:
        async for result in self._inner:
            self._tap(Kind.BATCH, result.SerializeToString())
            yield result
