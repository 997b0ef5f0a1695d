"""`tiktok2mqtt check-config`: validate the configuration file and list every problem."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from bridge.config import EXIT_CONFIG, Config, ConfigInvalid, load_config

NAME = "check-config"
HELP = "Check the configuration file and list every problem (exit code 78 when invalid)."
DEFAULT_CONFIG = "config.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", default=DEFAULT_CONFIG, metavar="FILE", help="configuration file"
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigInvalid as exc:
        return print_invalid(exc)
    print("Configuration is valid")
    print(summary(config))
    return 0


def print_invalid(exc: ConfigInvalid, file: TextIO | None = None) -> int:
    """Print the refusal banner and every problem; returns EXIT_CONFIG (shared with `run`)."""
    out = file if file is not None else sys.stderr
    count = len(exc.problems)
    noun = "problem" if count == 1 else "problems"
    print(
        f"Refusing to start because the configuration is not valid, found {count} {noun}:", file=out
    )
    for problem in exc.problems:
        print(f"  {problem}", file=out)
    print("See docs/configuration.md for every key.", file=out)
    return EXIT_CONFIG


def load_or_exit(path: str) -> Config:
    """For the daemon: the Config, or the same report as check-config and SystemExit(78)."""
    try:
        return load_config(path)
    except ConfigInvalid as exc:
        raise SystemExit(print_invalid(exc)) from None


def summary(config: Config) -> str:
    """A few lines describing what will run; never secrets (the server URL holds none)."""
    m, t, ha = config.mqtt, config.tiktok, config.homeassistant
    users = ", ".join(s.user for s in config.streamers) or "none (add at run time)"
    sign = "sign server" if t.uses_sign_server else "direct"
    lines = [
        f"  file:           {config.source}",
        f"  mqtt:           {m.server} (base topic {m.base_topic!r}, "
        f"user {'set' if m.user else 'none'})",
        f"  tiktok:         {t.connection} -> {sign}; session {'set' if t.session else 'none'}; "
        f"proxy {'set' if t.proxy else 'none'}",
        f"  streamers:      {users}",
        "  home assistant: "
        + (f"discovery on {ha.discovery_topic!r}" if ha.enabled else "discovery off"),
        f"  state dir:      {config.service.state_dir}",
    ]
    for name in sorted(config.sections):
        lines.append(f"  {name}: configured")
    return "\n".join(lines)
