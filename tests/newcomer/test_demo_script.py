"""`scripts/demo` on a copy of the checkout: it installs once, quietly, and then needs no index.

The first run installs into the copy's own .venv (from the package index this machine uses,
or pip's cache); the later runs get a package index that refuses every connection.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.mosquitto import free_port

REPO = Path(__file__).resolve().parents[2]
INSTALLING = "Installing tiktok2mqtt into .venv"
# What pip and setuptools say while installing: the demo shows none of it unless pip fails.
PIP_NOISE = ("Collecting ", "Requirement already", "Successfully installed", "WARNING: ")


def _copy_of_checkout(dest: Path) -> Path:
    """The files of this checkout, as a clone would have them (no .venv, no caches)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to copy")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # a file deleted but not yet committed is listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def _env(*, index_reachable: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(
        PYTHON=sys.executable,
        # Nothing answers at the default address: the private broker (mosquitto here).
        TIKTOK2MQTT_DEMO_MQTT=f"mqtt://127.0.0.1:{free_port()}",
    )
    if not index_reachable:
        env = {k: v for k, v in env.items() if not k.startswith("PIP_")}
        env.update(
            PIP_INDEX_URL=f"http://127.0.0.1:{free_port()}/simple",
            PIP_CONFIG_FILE=os.devnull,  # no extra indexes or find-links from pip.conf
            PIP_RETRIES="0",
            PIP_DEFAULT_TIMEOUT="5",
        )
    return env


def _demo(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(repo / "scripts" / "demo"), "--speed", "40", "--no-color"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_scripts_demo_installs_once_quietly_then_runs_without_a_package_index(
    tmp_path: Path,
) -> None:
    repo = _copy_of_checkout(tmp_path / "clone")

    first = _demo(repo, _env(index_reachable=True))
    assert first.returncode == 0, first.stderr
    assert INSTALLING in first.stderr
    assert not any(noise in first.stdout + first.stderr for noise in PIP_NOISE)
    assert "started a private mosquitto" in first.stdout
    assert "messages received" in first.stdout

    second = _demo(repo, _env(index_reachable=False))
    assert second.returncode == 0, second.stderr
    assert INSTALLING not in second.stderr
    assert "messages received" in second.stdout

    # A changed pyproject.toml (new dependencies?) needs an install: without an index it
    # fails, and then pip's own words are shown.
    with (repo / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# changed\n")
    third = _demo(repo, _env(index_reachable=False))
    assert third.returncode == 1
    assert INSTALLING in third.stderr
    assert "ERROR" in third.stderr  # pip's error, from its log
    assert "scripts/demo: installing into .venv failed" in third.stderr
    assert "messages received" not in third.stdout
