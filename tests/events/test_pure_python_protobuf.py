"""The decode and golden-value tests again, on the pure-Python protobuf runtime.

That is what a 32-bit Raspberry Pi OS or an ``arm/v7`` container gets from pip (no compiled
wheel: docs/install-systemd.md), and there every frame and message is read by
bridge/tiktok/wire.py instead. The runtime is chosen when protobuf is first imported, so the
tests run in a child pytest with PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python, which first
checks that it really got the pure-Python runtime.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers.paths import REPO

# Golden values of the real captures, the synthetic fixtures, the newer types, the JSON
# of every event, the frame codec and the schema on the real wire bytes (a few seconds).
MODULES = (
    "tests/events/test_golden.py",
    "tests/events/test_synthetic.py",
    "tests/events/test_new_types.py",
    "tests/events/test_json.py",
    "tests/events/test_wanted.py",
    "tests/tiktok/test_frames.py",
    "tests/tiktok/test_schema_fixtures.py",
)
CHILD = """
import sys
from google.protobuf.internal import api_implementation
from bridge.tiktok import frames
assert api_implementation.Type() == "python", api_implementation.Type()
assert frames.PURE_PYTHON and frames.protobuf_runtime()["implementation"] == "python"
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-x", *sys.argv[1:]]))
"""


def test_decode_and_golden_tests_pass_on_pure_python_protobuf() -> None:
    env = {**os.environ, "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *MODULES],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = proc.stdout.strip().splitlines()[-1:] or [proc.stderr[-2000:]]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in summary[0] and "failed" not in summary[0], summary
