"""`tiktok2mqtt addon`: the Home Assistant add-on's start command.

Reads the options the Supervisor wrote (``/data/options.json``), asks the Supervisor for the
MQTT broker (unless the options name one), merges ``/config/tiktok2mqtt.yaml`` when it
exists, writes ``/data/config.yaml`` (mode 0600: it holds the broker password) and replaces
itself with ``tiktok2mqtt run`` (exec), so the daemon is the process the Supervisor stops.

Exit codes before the exec: 78 bad options or extra file, 69 no broker from the Supervisor,
73 the config file cannot be written. Secrets are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from bridge import __version__
from bridge.service.addon import (
    EXTRA_FILE,
    AddonOptions,
    Broker,
    OptionsInvalid,
    build_config,
    parse_options,
)
from bridge.service.supervisor import DEFAULT_URL, SupervisorError, mqtt_broker

NAME = "addon"
HELP = "Start as a Home Assistant add-on: options.json + Supervisor MQTT service → run."

ENV_SUPERVISOR_URL = "TIKTOK2MQTT_SUPERVISOR_URL"
ENV_DATA = "TIKTOK2MQTT_ADDON_DATA"
ENV_CONFIG_DIR = "TIKTOK2MQTT_ADDON_CONFIG"
OPTIONS_FILE = "options.json"
CONFIG_FILE = "config.yaml"
STATE_DIR = "state"
HEADER = (
    "# Written by `tiktok2mqtt addon` at every start of the add-on from options.json and\n"
    f"# the add-on config folder's {EXTRA_FILE}; changes made here are lost.\n"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default=os.environ.get(ENV_DATA, "/data"),
        metavar="DIR",
        help=f"the add-on's data folder: options.json in, config.yaml and state out "
        f"(default: ${ENV_DATA} or /data)",
    )
    parser.add_argument(
        "--config-dir",
        default=os.environ.get(ENV_CONFIG_DIR, "/config"),
        metavar="DIR",
        help=f"the add-on's config folder with the optional {EXTRA_FILE} "
        f"(default: ${ENV_CONFIG_DIR} or /config)",
    )
    parser.add_argument(
        "--supervisor",
        default=os.environ.get(ENV_SUPERVISOR_URL, DEFAULT_URL),
        metavar="URL",
        help=f"Supervisor API (default: ${ENV_SUPERVISOR_URL} or {DEFAULT_URL})",
    )


def _say(text: str) -> None:
    print(f"tiktok2mqtt add-on: {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    data, config_dir = Path(args.data), Path(args.config_dir)
    try:
        options = parse_options(_read_options(data / OPTIONS_FILE))
        extra = _read_extra(config_dir / EXTRA_FILE)
    except OptionsInvalid as exc:
        return _refuse(exc)
    try:
        broker = _broker(options, args.supervisor)
    except SupervisorError as exc:
        _say(f"cannot start: {exc}")
        return os.EX_UNAVAILABLE
    try:
        config = build_config(options, broker, str(data / STATE_DIR), extra)
    except OptionsInvalid as exc:
        return _refuse(exc)
    path = data / CONFIG_FILE
    try:
        (data / STATE_DIR).mkdir(parents=True, exist_ok=True)
        _write_private(path, HEADER + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    except OSError as exc:
        _say(f"cannot write {path}: {exc.strerror or type(exc).__name__}")
        return os.EX_CANTCREAT
    users = [entry["user"] if isinstance(entry, dict) else entry for entry in config["streamers"]]
    _summary(options, broker, path, users, extra is not None, config_dir)
    # exec: the daemon takes this process over, so SIGTERM from the Supervisor reaches it.
    argv = [sys.executable, "-m", "bridge", "run", "-c", str(path)]
    os.execv(sys.executable, argv)
    return 0  # not reached


def _refuse(exc: OptionsInvalid) -> int:
    count = len(exc.problems)
    _say(f"cannot start, {count} problem{'s' if count != 1 else ''} in the options:")
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    print("See the add-on's Documentation tab (DOCS.md) for every option.", file=sys.stderr)
    return os.EX_CONFIG


def _read_options(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OptionsInvalid([f"{path}: not found (the Supervisor writes it)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionsInvalid([f"{path}: cannot be read ({type(exc).__name__})"]) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        # The position only: the text may hold the sign-server key.
        where = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "?"
        raise OptionsInvalid([f"{path}: not valid JSON ({where})"]) from None


def _read_extra(path: Path) -> Any:
    """The optional extra configuration; None when there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionsInvalid([f"{path}: cannot be read ({type(exc).__name__})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Never str(exc): PyYAML quotes the offending line, which may hold a password.
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or "syntax error"
        if "constructor" in problem and "tag" in problem:
            problem += " (tags such as !secret do not work in this file; write the value)"
        raise OptionsInvalid([f"{path}: not valid YAML at {where}: {problem}"]) from None
    return {} if data is None else data


def _broker(options: AddonOptions, supervisor: str) -> Broker:
    if options.mqtt_server:
        return Broker(options.mqtt_server, options.mqtt_user, options.mqtt_password, "the options")
    token = os.environ.get("SUPERVISOR_TOKEN") or os.environ.get("HASSIO_TOKEN")
    return mqtt_broker(supervisor, token)


def _write_private(path: Path, text: str) -> None:
    """Atomic write, readable by the owner only (the file holds the broker password)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # an older tmp file keeps its mode through O_CREAT
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _summary(
    options: AddonOptions,
    broker: Broker,
    path: Path,
    users: list[Any],
    extra: bool,
    config_dir: Path,
) -> None:
    login = f"user {broker.user!r}" if broker.user else "anonymous"
    _say(f"version {__version__}, wrote {path}")
    print(f"  broker:     {broker.server} ({login}, from {broker.source})", file=sys.stderr)
    listed = ", ".join(map(str, users)) or "none (add them at run time over MQTT)"
    print(f"  streamers:  {listed}", file=sys.stderr)
    print(
        f"  connection: {options.connection}; sign-server key "
        f"{'set' if options.sign_server_key else 'not set'}",
        file=sys.stderr,
    )
    print(
        f"  discovery:  {'on' if options.discovery else 'off'}; actions: "
        f"{'on' if options.actions else 'off'}; log level: {options.log_level}",
        file=sys.stderr,
    )
    merged = f"{config_dir / EXTRA_FILE} merged" if extra else f"no {config_dir / EXTRA_FILE}"
    print(f"  extra file: {merged}", file=sys.stderr, flush=True)
