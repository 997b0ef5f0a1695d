"""Helpers shared by the bridge.service tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.helpers.paths import REPO


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for `python -m bridge ...` from the source tree (no install needed)."""
    env = {k: v for k, v in os.environ.items() if k not in {"NOTIFY_SOCKET", "WATCHDOG_USEC"}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


PYTHON = sys.executable
SERVICE_TESTS = Path(__file__).resolve().parent
