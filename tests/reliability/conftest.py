"""Fixtures of the reliability tests (also used by tests/security and tests/fuzz)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from bridge.sim import TikTokSimulator
from tests.reliability.support import Daemon, new_simulator


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[TikTokSimulator]:
    simulator = new_simulator()
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[[Path], Daemon]]:
    daemons: list[Daemon] = []

    def start(config: Path) -> Daemon:
        daemon = Daemon(config, tmp_path / f"daemon{len(daemons)}.log")
        daemons.append(daemon)
        return daemon

    try:
        yield start
    finally:
        for daemon in daemons:
            daemon.stop()
