"""Helpers of the core end-to-end tests: a config pointing at the test broker + simulator,
an in-process Bridge run as a context manager, payload checks."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import textwrap
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from bridge.clock import SYSTEM_CLOCK, Clock, VirtualClock
from bridge.config import Config, load_config_text
from bridge.core.app import Bridge
from bridge.settings.tiktok import SupervisorSettings
from bridge.sim import TikTokSimulator
from tests.events._support import validator
from tests.helpers.clock import flowing
from tests.helpers.mosquitto import Mosquitto, MqttRecorder, Received

# Distinctive secrets: no published payload and no log line may ever contain them.
MQTT_PASSWORD = "mqtt-pw-Zq81xK"
SIGN_KEY = "sign-key-Vb77Lm"
SESSION_ID = "sess-id-Hy42Pt"
SECRETS = (MQTT_PASSWORD, SIGN_KEY, SESSION_ID)

# Fast supervision so the tests wait fractions of a second, not minutes.
FAST = SupervisorSettings(
    live_poll_interval_s=0.3,
    live_poll_jitter=0.2,
    calls_per_minute=600,
    cold_start_stagger_s=0.0,
    backoff_initial_s=0.2,
    backoff_max_s=1.0,
    healthy_after_s=600.0,
    silent_check_s=300.0,
)


def config_yaml(
    broker: Mosquitto,
    sim: TikTokSimulator,
    state_dir: Path,
    streamers: str,
    *,
    extra_tiktok: str = "",
    mqtt_password: bool = False,
    poll_s: int = 15,
    connection: str = "direct",
) -> str:
    # Block style, one key a line: tests edit this text (e.g. the sign_server line).
    ep = sim.endpoints
    credentials = f"  user: bridge\n  password: {MQTT_PASSWORD}\n" if mqtt_password else ""
    return (
        textwrap.dedent(
            f"""\
        mqtt:
          server: {broker.url}
          base_topic: tiktok
          client_id: bridge-under-test
        """
        )
        + credentials
        + textwrap.dedent(
            f"""\
        homeassistant:
          enabled: false
        tiktok:
          connection: {connection}
          live_poll_interval_s: {poll_s}
          calls_per_minute: 600
          heartbeat_interval_s: 1
          stale_after_s: 10
          endpoints:
            www: {ep.www}
            webcast: {ep.webcast}
            websocket: {ep.websocket}
            sign_server: {ep.sign_server}
        """
        )
        + textwrap.indent(extra_tiktok, "  ")
        + textwrap.dedent(
            f"""\
        logging:
          level: debug
          mqtt_level: warning
        service:
          state_dir: {state_dir}
          health_interval_s: 5
        streamers:
        """
        )
        + textwrap.indent(textwrap.dedent(streamers), "  ")
    )


def make_config(text: str, base_dir: Path, supervisor: SupervisorSettings = FAST) -> Config:
    config = load_config_text(text, base_dir=base_dir, env={})
    return with_supervisor(config, supervisor)


def with_supervisor(config: Config, supervisor: SupervisorSettings) -> Config:
    return dataclasses.replace(config, tiktok=config.tiktok.with_supervisor(supervisor))


@contextlib.asynccontextmanager
async def running(config: Config, clock: Clock = SYSTEM_CLOCK) -> AsyncIterator[Bridge]:
    """The bridge in this process until the block ends, on `clock` (a test that passes a
    VirtualClock drives it itself)."""
    bridge = Bridge(config, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        yield bridge
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


@contextlib.asynccontextmanager
async def running_virtual(config: Config) -> AsyncIterator[Bridge]:
    """`running` on a VirtualClock that flows while the test waits for real messages
    (tests/helpers/clock.py): polls, back-off, ticks and the state throttle pass about ten
    times faster than real time, and no test waits out a timer it does not care about."""
    clock = VirtualClock()
    async with running(config, clock) as bridge, flowing(clock):
        yield bridge


async def wait_until(predicate: Callable[[], bool], within: float = 20.0) -> None:
    """Until `predicate` holds (for state that has no change signal of its own)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polled: nothing to wait on
            await asyncio.sleep(0.02)


def status_is(status: str) -> Callable[[Received], bool]:
    """Predicate: a state snapshot with this status."""
    return lambda msg: bool(msg.payload) and msg.json()["status"] == status


def events_on(rec: MqttRecorder, topic_filter: str) -> list[dict[str, Any]]:
    return [m.json() for m in rec.on(topic_filter) if m.payload]


def validate_events(payloads: Iterable[dict[str, Any]]) -> int:
    """Validate against docs/schemas/events.schema.json; returns the count."""
    schema = validator()
    count = 0
    for payload in payloads:
        schema.validate(payload)
        count += 1
    return count
