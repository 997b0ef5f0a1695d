"""Where the read-only reference material lives (../shared beside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """The shared/ folder: $TIKTOK2MQTT_SHARED, else ../shared beside the repository."""
    env = os.environ.get("TIKTOK2MQTT_SHARED")
    path = Path(env) if env else REPO.parent / "shared"
    if not (path / "fixtures").is_dir():
        raise RuntimeError(f"reference fixtures not found at {path}; set TIKTOK2MQTT_SHARED")
    return path


def fixtures_dir() -> Path:
    return shared_dir() / "fixtures"
