"""Fixtures: the TikTok simulator on loopback (owned by the simulator work).

``simulator``: a started ``bridge.sim.TikTokSimulator`` on a free 127.0.0.1 port with a
short heartbeat timeout, stopped after the test. Point a client at ``simulator.endpoints``.
``sim_client``: an httpx.AsyncClient for raw HTTP calls against it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest_asyncio

if TYPE_CHECKING:  # imported lazily: this plugin loads for every test folder
    import httpx

    from bridge.sim import TikTokSimulator


@pytest_asyncio.fixture
async def simulator() -> AsyncIterator[TikTokSimulator]:
    from bridge.sim import SimConfig, TikTokSimulator

    # Short timeout for fast failure tests, and an announced interval the client can keep.
    sim = TikTokSimulator(config=SimConfig(heartbeat_timeout_s=5.0, ping_interval_s=1))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest_asyncio.fixture
async def sim_client(simulator: TikTokSimulator) -> AsyncIterator[httpx.AsyncClient]:
    import httpx

    async with httpx.AsyncClient(base_url=simulator.base_url, timeout=10) as client:
        yield client
