"""scripts/print-events.py (shown in the README): client + simulator, decoded events printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_print_events_prints_the_decoded_demo_stream() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "scripts/print-events.py", "--speed", "40"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("@sim_streamer: room ") and "live=True" in lines[0]
    kinds = {line.split()[0] for line in lines[1:]}
    assert {"chat", "gift", "like", "follow", "battle", "stream"} <= kinds
    assert any("hello from Lisbon" in line for line in lines)
    assert lines[-1].split()[:2] == ["stream", "ended"]
