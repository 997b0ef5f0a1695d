"""`tiktok2mqtt check-config` through the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.commands.check_config import load_or_exit, print_invalid
from bridge.config import EXIT_CONFIG, ConfigInvalid, Problem

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", "check-config", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


def test_bad_config_exits_78_and_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("mqtt: {event_qos: 9, sever: x}\nstreamers: [{user: 'no spaces'}]\n")
    result = _run("-c", str(bad))
    assert result.returncode == EXIT_CONFIG == 78
    assert (
        "Refusing to start because the configuration is not valid, found 3 problems:"
        in result.stderr
    )
    assert "  mqtt.event_qos: must be 0 to 2, got 9" in result.stderr
    assert "  mqtt.sever: unknown key; did you mean 'server'?" in result.stderr
    assert "  streamers[0].user: " in result.stderr


def test_example_passes(tmp_path: Path) -> None:
    result = _run("--config", str(REPO / "config.yaml.example"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Configuration is valid\n")
    assert "alice.live, bob_games" in result.stdout


def test_default_file_name_is_config_yaml(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("streamers: [carol]\n")
    result = _run(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "carol" in result.stdout


def test_load_or_exit_for_the_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text("streamers: [a]\n")
    assert load_or_exit(str(tmp_path / "c.yaml")).streamers[0].user == "a"
    with pytest.raises(SystemExit) as info:
        load_or_exit(str(tmp_path / "missing.yaml"))
    assert info.value.code == 78
    assert "found 1 problem:" in capsys.readouterr().err


def test_print_invalid_format(capsys: pytest.CaptureFixture[str]) -> None:
    code = print_invalid(ConfigInvalid([Problem("a.b", "is wrong"), Problem("c", "too")]))
    assert code == 78
    err = capsys.readouterr().err.splitlines()
    assert err[:3] == [
        "Refusing to start because the configuration is not valid, found 2 problems:",
        "  a.b: is wrong",
        "  c: too",
    ]
