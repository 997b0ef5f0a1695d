"""HealthFile, check_health and the `tiktok2mqtt healthcheck` command (as a subprocess)."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import time
from pathlib import Path

import pytest

from bridge.service.health import HealthFile, HealthStatus, check_health
from tests.helpers.paths import REPO
from tests.service.support import PYTHON, subprocess_env

STREAMERS = {"alice.live": {"status": "connected", "live": True}, "bob": {"status": "waiting"}}


def _health(path: Path, *, connected: bool = True, interval_s: float = 30.0) -> HealthFile:
    return HealthFile(
        path,
        interval_s=interval_s,
        status=lambda: HealthStatus(mqtt_connected=connected, streamers=STREAMERS),
    )


def test_write_produces_a_small_json_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "health.json"
    assert _health(path).write()
    data = json.loads(path.read_text())
    assert data["mqtt_connected"] is True
    assert data["streamers"] == STREAMERS
    assert data["state"] == "running"
    assert data["interval_s"] == 30.0
    assert abs(data["ts"] - time.time()) < 60
    assert [p.name for p in path.parent.iterdir()] == ["health.json"]  # no tmp file left


def test_fresh_and_connected_is_healthy(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    _health(path).write()
    ok, reason = check_health(path)
    assert ok
    assert reason.startswith("ok:")
    assert "2 streamer(s)" in reason


def test_stale_file_is_unhealthy(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    _health(path, interval_s=30).write()
    ts = json.loads(path.read_text())["ts"]
    # default limit: 2 × 30 s + 10 s
    assert check_health(path, now=ts + 69)[0]
    ok, reason = check_health(path, now=ts + 71)
    assert not ok
    assert reason == "stale: last update 71 s ago (limit 70 s)"
    assert not check_health(path, max_age_s=5, now=ts + 6)[0]


def test_mqtt_disconnected_is_unhealthy(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    _health(path, connected=False).write()
    assert check_health(path) == (False, "MQTT broker not connected")


def test_stopped_daemon_is_unhealthy(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    health = _health(path)
    health.write()
    health.mark_stopped()
    assert check_health(path) == (False, "daemon stopped")


@pytest.mark.parametrize("content", ["", "{not json", '{"mqtt_connected": true}', '{"ts": "x"}'])
def test_invalid_file_is_unhealthy(tmp_path: Path, content: str) -> None:
    path = tmp_path / "health.json"
    path.write_text(content)
    ok, reason = check_health(path)
    assert not ok
    assert "not valid" in reason


def test_missing_file_is_unhealthy(tmp_path: Path) -> None:
    ok, reason = check_health(tmp_path / "nope.json")
    assert not ok
    assert reason.startswith("no health file at")


def test_write_failure_is_logged_once_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.service.health")
    blocker = tmp_path / "dir"
    blocker.write_text("a file where a directory should be")
    health = _health(blocker / "health.json")
    assert not health.write()
    assert not health.write()
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    blocker.unlink()
    assert health.write()
    assert health.writes == 1
    assert "writable again" in caplog.records[-1].getMessage()


def test_interval_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="> 0"):
        _health(tmp_path / "h", interval_s=0)


async def test_run_keeps_the_file_fresh(tmp_path: Path) -> None:
    snapshots: list[bool] = []
    third = asyncio.Event()

    def status() -> HealthStatus:
        snapshots.append(len(snapshots) > 0)  # disconnected first, connected afterwards
        if len(snapshots) >= 3:
            third.set()
        return HealthStatus(mqtt_connected=snapshots[-1])

    path = tmp_path / "health.json"
    task = asyncio.create_task(HealthFile(path, interval_s=0.01, status=status).run())
    try:
        # The second snapshot's write finished before the third snapshot was taken.
        await asyncio.wait_for(third.wait(), 10)
    finally:
        task.cancel()
    assert len(snapshots) >= 3
    assert json.loads(path.read_text())["mqtt_connected"] is True  # a later snapshot


# ---------------------------------------------------------------- the CLI command


def _healthcheck(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "bridge", "healthcheck", *args],
        cwd=cwd,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_command_exit_0_when_healthy(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    _health(path).write()
    result = _healthcheck("--file", str(path))
    assert result.returncode == 0, result
    assert result.stdout.startswith("ok: ")
    assert result.stdout.count("\n") == 1


def test_command_exit_1_with_one_line_reason(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    _health(path, connected=False).write()
    result = _healthcheck("--file", str(path))
    assert result.returncode == 1
    assert result.stdout == "unhealthy: MQTT broker not connected\n"
    stale = _healthcheck("--file", str(path), "--max-age", "0")
    assert stale.returncode == 1
    assert "stale" in stale.stdout


def test_command_reads_health_file_from_config(tmp_path: Path) -> None:
    path = tmp_path / "data" / "health.json"
    _health(path).write()
    config = tmp_path / "config.yaml"
    config.write_text(
        "mqtt:\n  password: !secret mqtt_password\n"
        "service:\n  health_file: data/health.json\n  health_interval_s: 30\n"
    )
    result = _healthcheck("-c", str(config))
    assert result.returncode == 0, result
    via_env = _healthcheck(TIKTOK2MQTT_CONFIG=str(config))
    assert via_env.returncode == 0, via_env


def test_command_without_any_source_fails(tmp_path: Path) -> None:
    env = subprocess_env()
    env.pop("TIKTOK2MQTT_CONFIG", None)
    env.pop("TIKTOK2MQTT_HEALTH_FILE", None)
    result = subprocess.run(
        [PYTHON, "-m", "bridge", "healthcheck"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout.startswith("unhealthy: no health file")
    missing = _healthcheck("-c", str(tmp_path / "absent.yaml"))
    assert missing.returncode == 1
    assert "not found" in missing.stdout


MINIMAL = "mqtt:\n  server: mqtt://localhost\nstreamers:\n  - user: alice\n"


@pytest.mark.parametrize(
    ("service", "env"),
    [
        ("", {}),
        ("", {"STATE_DIRECTORY": "/var/lib/tiktok2mqtt:/var/lib/other"}),
        ("service:\n  state_dir: st\n", {"STATE_DIRECTORY": "/ignored"}),
        ("service:\n  health_file: run/hb.json\n", {}),
        ("service:\n  health_file: /run/tiktok2mqtt/health.json\n", {}),
    ],
)
def test_fallback_resolves_like_the_config_loader(
    tmp_path: Path, service: str, env: dict[str, str]
) -> None:
    """The healthcheck's light reader (used when a full load fails) must not drift."""
    config_mod = pytest.importorskip("bridge.config")
    from bridge.commands.healthcheck import fallback_health_file

    config = tmp_path / "config.yaml"
    config.write_text(MINIMAL + service)
    expected = config_mod.load_config(config, env=env).service.health_file
    assert fallback_health_file(config, env) == expected
