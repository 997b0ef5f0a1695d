"""A harness around MqttSink: records what it hands to the core, always closes it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bridge.mqtt.sink import MqttSink
from bridge.settings.mqtt import MqttSettings
from tests.helpers.mosquitto import Mosquitto

BASE = "tiktok"
WILL = f"{BASE}/bridge/state"
# Generous: never a claim about speed, only an upper bound so a hang fails the test.
WAIT_S = 20.0


@dataclass
class Harness:
    sink: MqttSink
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    oversize: list[tuple[str, int, bool]] = field(default_factory=list)
    connected_calls: int = 0
    task: asyncio.Task[None] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> Harness:
        self.task = asyncio.create_task(self.sink.run(), name="mqtt-sink")
        return self

    async def connected(self) -> Harness:
        await asyncio.wait_for(self.sink.wait_connected(), WAIT_S)
        return self

    async def wait_until(self, check: Callable[[], bool], within: float = WAIT_S) -> None:
        async def poll() -> None:
            # Counters change without an event of their own; poll gently.
            while not check():  # noqa: ASYNC110
                await asyncio.sleep(0.02)

        await asyncio.wait_for(poll(), within)


def settings_for(broker: Mosquitto | str, **overrides: Any) -> MqttSettings:
    server = broker if isinstance(broker, str) else broker.url
    return MqttSettings(server=server, base_topic=BASE, **overrides)


MakeSink = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_sink() -> AsyncIterator[MakeSink]:
    """`h = await make_sink(settings, start=True)`: a running sink with fast reconnects."""
    harnesses: list[Harness] = []

    async def make(settings: MqttSettings, *, start: bool = True, **kwargs: Any) -> Harness:
        holder: list[Harness] = []

        def on_message(topic: str, payload: bytes, retain: bool) -> None:
            holder[0].messages.append((topic, payload, retain))
            holder[0].changed.set()

        def on_connected() -> None:
            holder[0].connected_calls += 1

        def on_oversize(topic: str, size: int, retain: bool) -> None:
            holder[0].oversize.append((topic, size, retain))

        options: dict[str, Any] = {
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.5,
            "timeout_s": 5.0,
        }
        options.update(kwargs)
        sink = MqttSink(
            settings,
            will_topic=WILL,
            on_message=on_message,
            on_connected=on_connected,
            on_oversize=on_oversize,
            **options,
        )
        harness = Harness(sink)
        holder.append(harness)
        harnesses.append(harness)
        return harness.start() if start else harness

    yield make
    for harness in harnesses:
        await asyncio.wait_for(harness.sink.close(timeout_s=3.0), WAIT_S)
        if harness.task is not None:
            await asyncio.wait_for(asyncio.shield(harness.task), WAIT_S)
            # run() must never die of broker trouble: it ends only because of close().
            assert harness.task.exception() is None
