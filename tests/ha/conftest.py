"""Fixtures for the real-Home-Assistant tests (``pytest -m ha``), on top of tests/ha/harness.py.

    async def test_x(home_assistant: HomeAssistant) -> None:   # made, not started yet
        home_assistant.write_package("goals", {...})            # before start: YAML config
        await home_assistant.start()                            # stopped after the test

Without Python 3.13 the tests skip, unless ``TIKTOK2MQTT_HA_REQUIRED=1`` (CI sets it): then
they fail, so a machine that cannot run HA never passes for one that did.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.ha.harness import DEFAULT_VENV, HarnessUnavailable, HomeAssistant, MqttBroker
from tests.ha.harness import ensure_installed as _ensure_installed
from tests.helpers.mosquitto import Mosquitto


@pytest.fixture(scope="session")
def ha_venv() -> Path:
    """HA's venv, installed on first use (minutes on a fresh machine, then cached)."""
    try:
        return _ensure_installed(DEFAULT_VENV)
    except HarnessUnavailable as exc:
        if os.environ.get("TIKTOK2MQTT_HA_REQUIRED") == "1":
            pytest.fail(f"Home Assistant required but unavailable: {exc}")
        pytest.skip(str(exc))


@pytest.fixture
async def home_assistant(
    ha_venv: Path, mosquitto: Mosquitto, tmp_path: Path
) -> AsyncIterator[HomeAssistant]:
    """A Home Assistant wired to the test's broker; the test starts it, teardown stops it."""
    ha = HomeAssistant(tmp_path / "ha", MqttBroker(mosquitto.host, mosquitto.port), venv=ha_venv)
    try:
        yield ha
    finally:
        await asyncio.shield(ha.stop())


@pytest.fixture
def daemon_log(tmp_path: Path) -> Iterator[Path]:
    """Where a test's daemon writes its log; printed (shown when the test failed)."""
    path = tmp_path / "daemon.log"
    yield path
    if path.exists():
        print(path.read_text(errors="replace")[-6000:])
