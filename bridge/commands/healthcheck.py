"""`tiktok2mqtt healthcheck`: exit 0 when the running daemon is healthy, 1 otherwise.

Made for Docker's HEALTHCHECK, which runs it every interval: it only reads the health
file the daemon keeps fresh (bridge.service.health) and prints one line. Imports at
module level stay standard-library only, because the CLI imports every command module.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

NAME = "healthcheck"
HELP = "check the running daemon's health file (fresh and MQTT connected); exit 0 or 1"

CONFIG_ENV = "TIKTOK2MQTT_CONFIG"
HEALTH_FILE_ENV = "TIKTOK2MQTT_HEALTH_FILE"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        default=os.environ.get(CONFIG_ENV),
        help=f"configuration file whose service.health_file is checked (default ${CONFIG_ENV})",
    )
    parser.add_argument(
        "--file",
        help=f"health file to check; overrides the configuration (default ${HEALTH_FILE_ENV})",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stale after this many seconds (default: 2 × the daemon's health interval + 10)",
    )


def run(args: argparse.Namespace) -> int:
    from bridge.service.health import check_health

    try:
        path = health_file_path(args.file, args.config)
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {exc}")
        return 1
    ok, reason = check_health(path, args.max_age)
    print(reason if ok else f"unhealthy: {reason}")
    return 0 if ok else 1


def health_file_path(explicit: str | None, config: str | None) -> Path:
    """--file, else the configuration's service.health_file, else $TIKTOK2MQTT_HEALTH_FILE."""
    if explicit:
        return Path(explicit)
    if config:
        return _from_config(Path(config))
    env = os.environ.get(HEALTH_FILE_ENV)
    if env:
        return Path(env)
    raise ValueError(f"no health file: pass --file or -c CONFIG (or set ${CONFIG_ENV})")


def _from_config(config: Path) -> Path:
    if not config.is_file():
        raise ValueError(f"configuration file {config} not found")
    try:
        from bridge.config import ConfigInvalid, load_config
    except ImportError:  # a trimmed install: read the one key ourselves
        return fallback_health_file(config, os.environ)
    try:
        health_file = load_config(config).service.health_file
        assert health_file is not None  # the loader fills the default in
        return health_file
    except ConfigInvalid:
        # The daemon may see what we cannot (e.g. systemd credentials): the one key we
        # need is still in the file.
        return fallback_health_file(config, os.environ)


def fallback_health_file(config: Path, env: Mapping[str, str]) -> Path:
    """service.health_file by bridge.config's rules, without resolving anything else.

    Paths are relative to the configuration file; the default is ``health`` in
    ``state_dir``, which defaults to $STATE_DIRECTORY (systemd) or ``state`` beside the file.
    """
    service = _service_section(config)
    base = config.absolute().parent
    if service.get("health_file"):
        return base / Path(str(service["health_file"])).expanduser()
    if service.get("state_dir"):
        state_dir = base / Path(str(service["state_dir"])).expanduser()
    elif env.get("STATE_DIRECTORY"):
        state_dir = Path(env["STATE_DIRECTORY"].split(":")[0])
    else:
        state_dir = base / "state"
    return state_dir / "health"


def _service_section(config: Path) -> dict[str, Any]:
    """The ``service:`` mapping; tags such as ``!secret`` are read as None, not resolved."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def _ignore_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> None:
        return None

    _Loader.add_multi_constructor("!", _ignore_tag)
    with config.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    service = data.get("service") if isinstance(data, dict) else None
    return service if isinstance(service, dict) else {}
