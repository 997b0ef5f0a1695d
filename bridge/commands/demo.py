"""`tiktok2mqtt demo`: a simulated TikTok LIVE through the real bridge to your broker.

    tiktok2mqtt demo                         # ~1 minute, then exits 0
    tiktok2mqtt demo --mqtt mqtt://pi.lan:1883 --speed 4 --forever

The built-in simulator plays the scripted demo session (bridge.sim.scenario); the real
Bridge (bridge.core) watches it through the real TikTok client, exactly as it would watch
TikTok, and publishes to the broker. A second MQTT client subscribes to ``<base>/#`` and
prints what arrives, so what you see is what Home Assistant or Node-RED would get.

The broker is probed first. Without ``--mqtt``, when nothing answers at the default address
(``mqtt://localhost:1883``, or ``$TIKTOK2MQTT_DEMO_MQTT``), the demo starts a private broker for
its own run (bridge.commands.demo_broker) and says so: a first try needs nothing but Python.
With ``--mqtt`` it uses that broker or says how to start one and exits 69, instead of waiting
forever (the daemon itself does wait and retry, on purpose).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import os
import re
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bridge.commands.demo_broker import KINDS, BrokerUnavailable, PrivateBroker, private_broker
from bridge.commands.live_view import LiveView, broker_hint, connect_view
from bridge.config import Config, ConfigInvalid, load_config_text
from bridge.core.app import Bridge
from bridge.settings.mqtt import MqttSettings
from bridge.sim import TikTokSimulator, demo_session

NAME = "demo"
HELP = "play a simulated TikTok LIVE through the real bridge to an MQTT broker and show it"

EXIT_UNAVAILABLE = 69  # sysexits EX_UNAVAILABLE: the broker is not there
DEFAULT_MQTT = "mqtt://localhost:1883"
# The address tried when --mqtt is not given (tests point it at a closed or private port).
DEFAULT_MQTT_ENV = "TIKTOK2MQTT_DEMO_MQTT"
# The demo session is ~110 s of scenario time; 2x gives the promised ~1 minute.
DEFAULT_SPEED = 2.0
STREAMER = "sim_streamer"
# Events beyond the defaults: joins make the demo feel alive.
DEMO_EVENTS = (
    "chat", "gift", "like", "member", "follow", "share", "subscribe", "question",
    "envelope", "battle", "stream", "intro",
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mqtt", metavar="URL",
        help=f"broker, mqtt[s]://[user:password@]host[:port]; without it: {DEFAULT_MQTT} "
             f"(or ${DEFAULT_MQTT_ENV}), and a private broker for this run if none answers there",
    )  # fmt: skip
    parser.add_argument(
        "--private-broker", choices=KINDS, default="auto",
        help="the private broker: mosquitto, embedded (amqtt, the 'demo' extra) or auto "
             "(default: mosquitto if installed, else embedded)",
    )  # fmt: skip
    parser.add_argument(
        "--base-topic", default="tiktok-demo",
        help="base topic (default tiktok-demo: never disturbs a real bridge on 'tiktok')",
    )  # fmt: skip
    add_common_arguments(parser, speed_note=": about a minute")
    parser.add_argument("--forever", action="store_true", help="replay the session until Ctrl-C")
    parser.add_argument(
        "--mode", choices=["direct", "sign_server"], default="direct",
        help="how the client connects: direct (ttwid) or via the simulator's sign server",
    )  # fmt: skip
    parser.add_argument(
        "--discovery", action="store_true",
        help="also publish Home Assistant discovery (a 'Sim Streamer' device appears in HA)",
    )  # fmt: skip


def add_common_arguments(
    parser: argparse.ArgumentParser, *, speed: float = DEFAULT_SPEED, speed_note: str = ""
) -> None:
    """Options shared with `replay`: speed and the live view's output."""
    parser.add_argument(
        "--speed", type=_positive, default=speed,
        help=f"playback speed factor (default {speed:g}{speed_note})",
    )  # fmt: skip
    color = parser.add_mutually_exclusive_group()
    color.add_argument("--color", dest="color", action="store_true", default=None,
                       help="colour the output even when it is not a terminal")  # fmt: skip
    color.add_argument("--no-color", dest="color", action="store_false", help="never colour")
    parser.add_argument("--quiet", action="store_true", help="no live view, only the summary")
    parser.add_argument(
        "--broker-timeout", type=_positive, default=5.0, metavar="SECONDS",
        help="give up when the broker does not answer within this time (default 5)",
    )  # fmt: skip


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_terminable(_demo(args)))


async def _terminable(main: Coroutine[Any, Any, int]) -> int:
    """SIGTERM (kill, timeout, a service manager) ends the demo like Ctrl-C does: the bridge
    says goodbye and the private broker stops, instead of dying mid-way."""
    task = asyncio.current_task()
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        if task is not None:
            task.cancel()

    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminate)
    try:
        return await main
    except asyncio.CancelledError:
        if terminated:
            return 128 + signal.SIGTERM
        raise


# ---------------------------------------------------------------------------- configuration


def mqtt_from_url(url: str, *, base_topic: str, client_id: str) -> MqttSettings:
    """MqttSettings from ``mqtt[s]://[user:password@]host[:port]``."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"not an MQTT URL: {url!r} (expected mqtt://host[:port])")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = f":{parts.port}" if parts.port else ""
    return MqttSettings(
        server=f"{parts.scheme}://{host}{port}",
        base_topic=base_topic,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        client_id=client_id,
    )


def simulated_config(
    sim: TikTokSimulator,
    *,
    mqtt: MqttSettings,
    state_dir: Path,
    streamer: str = STREAMER,
    mode: str = "direct",
    discovery: bool = False,
    events: tuple[str, ...] = DEMO_EVENTS,
    base: Config | None = None,
    speed: float = 1.0,
) -> Config:
    """A checked configuration whose TikTok endpoints all point at ``sim``.

    Built from YAML so it passes the same validation as a user's file; ``base`` (a user's
    configuration, for replay) contributes the streamer's options and the HA settings.
    """
    sign = f"{{url: '{sim.endpoints.sign_server}'}}" if mode == "sign_server" else "{url: null}"
    text = f"""
mqtt: {{server: "{mqtt.server}", base_topic: "{mqtt.base_topic}"}}
homeassistant: {{enabled: {"true" if discovery else "false"}}}
tiktok:
  connection: {mode}
  sign_server: {sign}
  calls_per_minute: 600
  endpoints: {sim.endpoints_yaml()}
streamers: [{{user: "{streamer}", events: [{", ".join(events)}]}}]
logging: {{level: warning, mqtt_level: "off"}}
service: {{state_dir: "{state_dir}"}}
"""
    config = load_config_text(text, base_dir=state_dir, env={})
    return _tuned(config, mqtt=mqtt, base=base, speed=speed)


def _tuned(config: Config, *, mqtt: MqttSettings, base: Config | None, speed: float) -> Config:
    # The validated minimum poll interval protects TikTok; the simulator needs no protection
    # and a demo must notice the next stream within seconds, so supervision is sped up here.
    poll = max(0.2, 2.0 / speed) if math.isfinite(speed) else 0.2
    supervision = dataclasses.replace(
        config.tiktok.supervision,
        cold_start_stagger_s=0.0,
        backoff_initial_s=min(0.5, poll),
        backoff_max_s=5.0,
        # Every stream is a connection: --forever would hit the hourly cap after six rounds.
        max_reconnects_per_hour=1_000_000,
    )
    tiktok = dataclasses.replace(config.tiktok, live_poll_interval_s=poll, supervision=supervision)
    config = dataclasses.replace(config, mqtt=mqtt, tiktok=tiktok)
    if base is None:
        return config
    # A replay publishes like the daemon would: that streamer's options and HA settings.
    streamers = tuple(base.streamer(s.user) or s for s in config.streamers)
    return dataclasses.replace(config, streamers=streamers, homeassistant=base.homeassistant)


# ---------------------------------------------------------------------------- running


@contextlib.asynccontextmanager
async def running_bridge(config: Config) -> AsyncIterator[Bridge]:
    """The real Bridge, stopped cleanly (offline published) when the block ends."""
    bridge = Bridge(config)
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop), name="bridge")
    try:
        yield bridge
    finally:
        stop.set()
        await task


@contextlib.asynccontextmanager
async def simulated_bridge(
    streamer: str, *, mqtt: MqttSettings, **options: Any
) -> AsyncIterator[tuple[TikTokSimulator, Bridge]]:
    """A simulator with ``streamer`` (offline) and the real Bridge watching it, with a
    throw-away state directory; ``options`` go to :func:`simulated_config`."""
    with tempfile.TemporaryDirectory(prefix="tiktok2mqtt-sim-") as state:
        async with TikTokSimulator() as sim:
            sim.add_user(streamer)
            config = simulated_config(
                sim, mqtt=mqtt, state_dir=Path(state), streamer=streamer, **options
            )
            async with running_bridge(config) as bridge:
                yield sim, bridge


async def open_view(mqtt: MqttSettings, args: argparse.Namespace) -> LiveView | None:
    """The live view of ``<base>/#`` (options of :func:`add_common_arguments`); None, with a
    hint on stderr, when the broker does not answer."""
    try:
        return await _connect_view(mqtt, args)
    except OSError as exc:
        print(broker_hint(mqtt.server, exc), file=sys.stderr)
        return None


async def _connect_view(mqtt: MqttSettings, args: argparse.Namespace) -> LiveView:
    color = sys.stdout.isatty() if args.color is None else args.color
    return await connect_view(
        mqtt, f"{mqtt.base_topic}/#", color=color, quiet=args.quiet, timeout_s=args.broker_timeout
    )


async def _demo(args: argparse.Namespace) -> int:
    url = args.mqtt or os.environ.get(DEFAULT_MQTT_ENV) or DEFAULT_MQTT
    try:
        mqtt = mqtt_from_url(url, base_topic=args.base_topic, client_id="tiktok2mqtt-demo")
    except ValueError as exc:
        print(f"tiktok2mqtt demo: {exc}", file=sys.stderr)
        return 2
    async with contextlib.AsyncExitStack() as stack:
        if args.mqtt:
            view = await open_view(mqtt, args)
            private = None
        else:
            view, mqtt, private = await _default_or_private(mqtt, args, stack)
        if view is None:
            return EXIT_UNAVAILABLE
        code = await _play(view, mqtt, args)
    # After the private broker stopped, so that the summary can say it did.
    if code == 0:
        view.print_summary(f"{mqtt.base_topic}/#", mqtt, private=private.name if private else None)
    return code


async def _default_or_private(
    mqtt: MqttSettings, args: argparse.Namespace, stack: contextlib.AsyncExitStack
) -> tuple[LiveView | None, MqttSettings, PrivateBroker | None]:
    """The view on the broker at the default address or, if none answers there, on a private
    broker that ``stack`` stops (None, with a hint on stderr, if neither works)."""
    try:
        return await _connect_view(mqtt, args), mqtt, None
    except OSError as exc:
        missed, reason = f"{mqtt.host}:{mqtt.port}", exc
        why = re.sub(r"^\[Errno \d+\] ", "", str(exc)).lower() or "no answer"
    try:
        broker = await stack.enter_async_context(private_broker(args.private_broker))
    except BrokerUnavailable as failure:
        print(f"{broker_hint(mqtt.server, reason)}\n(No private broker either: {failure})",
              file=sys.stderr)  # fmt: skip
        return None, mqtt, None
    # Only this run's clients use it: no credentials, whatever the default address had.
    mqtt = dataclasses.replace(mqtt, server=broker.url, user=None, password=None)
    view = await open_view(mqtt, args)
    if view is not None:
        view.note(
            f"no MQTT broker answers at {missed} ({why}): started a private {broker.name} "
            f"on {broker.host}:{broker.port} for this run; it stops with the demo",
            always=True,
        )
        if args.discovery:
            view.note(
                "--discovery: Home Assistant cannot reach this private broker, so no device "
                "appears there; give the demo HA's broker with --mqtt mqtt://host:1883",
                always=True,
            )
    return view, mqtt, broker


async def _play(view: LiveView, mqtt: MqttSettings, args: argparse.Namespace) -> int:
    goodbye: str | None = None
    view.mark()
    try:
        # The streamer starts offline: the scenario's first step goes live.
        async with simulated_bridge(
            STREAMER, mqtt=mqtt, mode=args.mode, discovery=args.discovery, speed=args.speed
        ) as (sim, bridge):
            goodbye = bridge.topics.bridge_state
            view.note(
                f"simulated TikTok on {sim.base_url}; bridge → {mqtt.server} ({args.mode} mode)"
            )
            await _sessions(sim, bridge, view, args)
    except ConfigInvalid as exc:  # only when a CLI value (e.g. --base-topic) is invalid
        print(f"tiktok2mqtt demo: {'; '.join(str(p) for p in exc.problems)}", file=sys.stderr)
        return 2
    finally:
        # The bridge's goodbye (offline) is still on its way through the broker, also
        # after a Ctrl-C: show it before the view goes.
        if goodbye is not None:
            await view.wait_for(goodbye, b"offline", timeout_s=2.0)
        await view.stop()
    return 0


async def _sessions(
    sim: TikTokSimulator, bridge: Bridge, view: LiveView, args: argparse.Namespace
) -> None:
    live_topic = bridge.topics.streamer(STREAMER).live
    while True:
        await sim.play(demo_session(STREAMER), speed=args.speed)
        # The session leaves the second stream running: end it so the view shows live OFF,
        # after a short pause (scenario time) so the end does not crowd the last gift.
        # Pacing only: the end's control message follows the gift on the same socket, and
        # the bridge publishes open streaks before the end.
        await asyncio.sleep(min(3.0 / args.speed, 3.0))
        view.mark()
        sim.room(STREAMER).end()
        # At high speeds the second stream can be over before the bridge's next live check:
        # nothing to wait for then.
        if view.latest(live_topic) == b"ON":
            await view.wait_for(live_topic, b"OFF", timeout_s=10.0)
        if not args.forever:
            return
