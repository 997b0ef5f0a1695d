"""The machine description and the peer's separate venv."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the project env

from bench import procs

REPO = procs.REPO
DEFAULT_PEER_VENV = REPO / "bench" / ".venv"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def _mosquitto_version() -> str:
    try:
        out = subprocess.run(
            [procs.mosquitto_binary(), "-h"], capture_output=True, text=True, check=False
        )
    except (OSError, RuntimeError):
        return "-"
    first = (out.stdout or out.stderr).splitlines()[:1]
    return first[0].replace("mosquitto version ", "") if first else "-"


def peer_version(python: Path | None) -> str:
    if python is None:
        return "-"
    out = subprocess.run(
        [
            str(python),
            "-c",
            "from importlib.metadata import version as v; "
            "print(v('tiktoklive'), v('TikTokLiveProto'), v('betterproto2'), v('protobuf'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    parts = out.stdout.split()
    if len(parts) != 4:
        return "-"
    return f"{parts[0]} (TikTokLiveProto {parts[1]}, betterproto2 {parts[2]})"


def machine(peer_python: Path | None) -> dict[str, str]:
    mem = psutil.virtual_memory().total / 2**30
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": f"{os.cpu_count()} logical ({psutil.cpu_count(logical=False) or '?'} physical)",
        "ram": f"{mem:.1f} GiB",
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": platform.python_version(),
        "protobuf": f"{_version('protobuf')} (upb)",
        "websockets": _version("websockets"),
        "aiomqtt": f"{_version('aiomqtt')} (paho-mqtt {_version('paho-mqtt')})",
        "mosquitto": _mosquitto_version(),
        "tiktoklive": peer_version(peer_python),
    }


def bench_requirements() -> list[str]:
    """The ``bench`` extra of pyproject.toml (tiktoklive pinned, psutil)."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    extra: list[str] = data["project"]["optional-dependencies"]["bench"]
    return extra


def ensure_peer_venv(path: Path) -> Path | None:
    """The venv's python with tiktoklive installed; created (pip) on first use.

    A venv of its own: tiktoklive brings betterproto2 and TikTokLiveProto, which must never
    reach the project's test environment. None when it cannot be created (offline).
    """
    python = path / "bin" / "python"
    if python.exists() and peer_version(python) != "-":
        return python
    print(f"bench: creating the peer venv {path} (pip install {' '.join(bench_requirements())})")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *bench_requirements()],
            check=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"bench: peer venv unavailable ({exc}); the peer column will be empty")
        return None
    return python if peer_version(python) != "-" else None
