"""Cluster fixtures: settings with short leases, and members (ClusterNode) that are always
closed at teardown. Redis TTLs are real time, so leases here are 2.5 s."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bridge.cluster import ClusterNode, ClusterSettings, StoreSnapshot, StreamerEntry
from tests.cluster.recorder import Recorder
from tests.helpers.redis_server import RedisServer

TTL_S = 2.5
RENEW_S = 0.5
MARGIN_S = 0.7

MakeNode = Callable[..., Awaitable[ClusterNode]]


def settings(name: str, url: str, prefix: str, **overrides: Any) -> ClusterSettings:
    values: dict[str, Any] = {
        "instance": name,
        "url": url,
        "key_prefix": prefix,
        "lease_ttl_s": TTL_S,
        "renew_interval_s": RENEW_S,
        "safety_margin_s": MARGIN_S,
        "dedupe_flush_s": 0.2,
    }
    values.update(overrides)
    return ClusterSettings(**values)


def entries(n: int) -> list[StreamerEntry]:
    return [StreamerEntry(f"streamer{i:04d}") for i in range(n)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def prefix() -> str:
    return f"t2m-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def make_node(
    redis_server: RedisServer, recorder: Recorder, prefix: str
) -> AsyncIterator[MakeNode]:
    """``await make_node("a", streamers=200, url=…, weight=…)``: a started member."""
    nodes: list[ClusterNode] = []

    async def make(
        name: str,
        streamers: int = 0,
        url: str | None = None,
        on_streamers: Callable[[StoreSnapshot], None] | None = None,
        own_paused: bool = False,
        **overrides: Any,
    ) -> ClusterNode:
        node = ClusterNode(
            settings(name, url or redis_server.url, prefix, **overrides),
            recorder.listener(name),
            on_streamers=on_streamers,
            own_paused=own_paused,
        )
        nodes.append(node)
        await node.start(entries(streamers))
        return node

    try:
        yield make
    finally:
        for node in nodes:
            await node.close()
