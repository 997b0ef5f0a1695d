"""`tiktok2mqtt run -c config.yaml`: the daemon.

Start order matters for systemd (docs/install-systemd.md): the configuration is checked
first (invalid → every problem printed, exit 78 so systemd does not restart-loop), then
logging with every secret registered for redaction, then the bridge loops; READY=1 follows
at once — it never waits for the broker or TikTok, which may come up later than a Pi boots.
SIGTERM/SIGINT: STOPPING=1, offline published, sockets closed, exit 0. SIGHUP: reload the
file; an invalid new file is logged and the running configuration kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import stat
from pathlib import Path

from bridge.commands.check_config import print_invalid
from bridge.config import Config, ConfigInvalid, load_config
from bridge.config.model import ROOT
from bridge.core.app import Bridge
from bridge.service.logging import (
    SecretRedactor,
    install_mqtt_log_handler,
    setup_logging,
)
from bridge.service.secrets import exposed_secret_files, secrets_in_text, url_secrets
from bridge.service.signals import SignalHandlers
from bridge.service.systemd import Notifier
from bridge.settings.declare import secrets_in
from bridge.tiktok.frames import protobuf_runtime

NAME = "run"
HELP = "Run the bridge daemon (TikTok LIVE → MQTT)."
ENV_CONFIG = "TIKTOK2MQTT_CONFIG"
STATUS_INTERVAL_S = 5.0

log = logging.getLogger("bridge.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        default=os.environ.get(ENV_CONFIG, "config.yaml"),
        metavar="FILE",
        help=f"configuration file (default: ${ENV_CONFIG} or config.yaml)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigInvalid as exc:
        return print_invalid(exc)
    return asyncio.run(_daemon(config, args.config))


def secrets_of(config: Config) -> list[str]:
    """Every configured secret, for the log redactor (never in logs, never on MQTT): what the
    declaration marks secret, `!secret`/`!credential` values, proxy credentials, and a proxy
    URL itself with its Basic auth token. The redactor adds each one's other forms."""
    found = list(secrets_in(ROOT, config.document))
    if config.tiktok.proxy:
        found += url_secrets(config.tiktok.proxy)
    return list(dict.fromkeys(s for s in found if s))


def warn_exposed_secret_files(config: Config) -> None:
    """A warning for each file holding secrets that every user may read (start, reload)."""
    if config.source is None:
        return
    for path in exposed_secret_files(Path(config.source), secrets_of(config)):
        log.warning(
            "%s holds secrets and is readable by every user (mode %s): chmod o-r %s",
            path,
            stat.filemode(path.stat().st_mode),
            path,
        )


def _log_protobuf() -> None:
    runtime = protobuf_runtime()
    log.info("protobuf %s (%s)", runtime["version"], runtime["implementation"])
    if "warning" in runtime:
        log.warning("%s", runtime["warning"])


async def _daemon(config: Config, path: str) -> int:
    redactor = setup_logging(config.logging)
    redactor.register(*secrets_of(config))
    # httpx logs every request URL at INFO; sign-server URLs may carry the session or key.
    # The redactor masks them anyway, but they are noise in the journal too.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    notifier = Notifier()
    bridge = Bridge(config, redact=redactor.redact)
    signals = SignalHandlers(on_reload=lambda: _reload(bridge, path, redactor))
    signals.install()
    mqtt_log = install_mqtt_log_handler(config.logging, bridge.publish_log, redactor=redactor)
    log.info("tiktok2mqtt starting: %d streamer(s)", len(config.streamers))
    _log_protobuf()
    warn_exposed_secret_files(config)
    main = asyncio.create_task(bridge.run(signals.shutdown), name="bridge")
    notifier.ready()
    notifier.start_watchdog(alive=lambda: bridge.alive and not main.done())
    status = asyncio.create_task(_status_loop(notifier, bridge), name="systemd-status")
    stop_wait = asyncio.create_task(signals.shutdown.wait())
    try:
        await asyncio.wait({main, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        notifier.stopping()
        notifier.status("stopping")
        signals.shutdown.set()  # if the bridge ended on its own, still go the clean way
        await main
    finally:
        stop_wait.cancel()
        status.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await status
        await notifier.stop_watchdog()
        logging.getLogger().removeHandler(mqtt_log)
        signals.uninstall()
    log.info("tiktok2mqtt stopped")
    return 0


async def _reload(bridge: Bridge, path: str, redactor: SecretRedactor) -> None:
    try:
        # Off the loop: the file may sit on a slow SD card.
        config = await asyncio.to_thread(load_config, path)
    except ConfigInvalid as exc:
        # The new file's secrets were never registered: find them in its text first, so
        # the problems (logged and published on bridge/logging) cannot echo one.
        redactor.register(*await asyncio.to_thread(_secrets_in_file, path))
        problems = "; ".join(str(p) for p in exc.problems)
        log.error("reload refused, keeping the running configuration: %s", problems)
        return
    redactor.register(*secrets_of(config))
    setup_logging(config.logging, redactor=redactor)
    warn_exposed_secret_files(config)
    await bridge.reload(config)


def _secrets_in_file(path: str) -> list[str]:
    try:
        return secrets_in_text(Path(path).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


async def _status_loop(notifier: Notifier, bridge: Bridge) -> None:
    last = ""
    while True:
        line = bridge.status_line()
        if line != last:
            notifier.status(line)
            last = line
        await asyncio.sleep(STATUS_INTERVAL_S)
