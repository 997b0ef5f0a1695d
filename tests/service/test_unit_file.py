"""systemd/tiktok2mqtt.service: required directives, and `systemd-analyze verify` is clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

UNIT = REPO / "systemd" / "tiktok2mqtt.service"
EXEC_START = "/opt/tiktok2mqtt/venv/bin/tiktok2mqtt run -c /etc/tiktok2mqtt/config.yaml"


def directives(text: str) -> dict[str, list[str]]:
    """key → values in order (systemd allows repeating a key), comments skipped."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key, []).append(value)
    return found


def test_unit_has_the_agreed_service_contract() -> None:
    d = directives(UNIT.read_text())
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "ExecStart": EXEC_START,
        "WatchdogSec": "30s",
        "Restart": "on-failure",
        "RestartSec": "10s",
        "RestartPreventExitStatus": "78",
        "TimeoutStopSec": "15s",
        "DynamicUser": "yes",
        "StateDirectory": "tiktok2mqtt",
        "ConfigurationDirectory": "tiktok2mqtt",
        "LoadCredential": "mqtt_password:/etc/tiktok2mqtt/mqtt_password",
        "Environment": "PYTHONUNBUFFERED=1",
    }
    assert {k: d.get(k, [None])[0] for k in expected} == expected


def test_unit_carries_the_hardening_set() -> None:
    d = directives(UNIT.read_text())
    for key in (
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
        "RestrictNamespaces",
        "LockPersonality",
        "MemoryDenyWriteExecute",
    ):
        assert d.get(key) == ["strict" if key == "ProtectSystem" else "yes"], key
    assert d["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert "@system-service" in d["SystemCallFilter"]


def test_optional_credentials_are_documented_examples() -> None:
    text = UNIT.read_text()
    assert "#LoadCredential=sign_api_key:" in text
    assert "#LoadCredential=session_id:" in text


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _unit_with_exec(tmp_path: Path, binary: str) -> Path:
    # verify checks that ExecStart exists; the venv path only exists on an installed Pi.
    copy = tmp_path / "tiktok2mqtt.service"
    text = UNIT.read_text()
    assert EXEC_START in text
    copy.write_text(text.replace(EXEC_START.split()[0], binary, 1))
    return copy


def _complaints(result: subprocess.CompletedProcess[str], unit: Path) -> list[str]:
    # Keep only lines about our unit: a host may have unrelated broken units.
    return [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if str(unit) in line or unit.name in line
    ]


needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


@needs_systemd_analyze
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    unit = _unit_with_exec(tmp_path, "/bin/true")
    result = _verify(unit)
    assert _complaints(result, unit) == []
    assert result.returncode == 0, result.stderr


@needs_systemd_analyze
def test_systemd_analyze_verify_would_catch_a_typo(tmp_path: Path) -> None:
    """Guards the test above: verify reports unknown keys on stderr (with exit status 0)."""
    unit = _unit_with_exec(tmp_path, "/bin/true")
    unit.write_text(unit.read_text().replace("UMask=", "UMaks="))
    assert any("UMaks" in line for line in _complaints(_verify(unit), unit))
