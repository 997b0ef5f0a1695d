"""The daemon process itself: SIGTERM while publishing (clean offline, exit 0), a restart
that keeps the watch switch set over MQTT, SIGKILL (the broker publishes the Will)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from tests.core.support import config_yaml
from tests.helpers.mosquitto import Mosquitto, Subscribe
from tests.reliability.support import Daemon, Flooder, mqtt_publish


async def test_sigterm_mid_flood_restart_keeps_watch_then_sigkill_leaves_will(
    mosquitto: Mosquitto,
    sim: TikTokSimulator,
    subscriber: Subscribe,
    daemon_factory: Callable[[Path], Daemon],
    tmp_path: Path,
) -> None:
    alice = sim.add_user("alice", live=True)
    bob = sim.add_user("bob", live=True)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(config_yaml(mosquitto, sim, tmp_path / "state", "- alice\n- bob\n"))
    rec = await subscriber(mosquitto, "tiktok/#")
    daemon = daemon_factory(cfg)
    await alice.wait_entered(1, 30)
    await bob.wait_entered(1, 30)
    await mqtt_publish(mosquitto, "tiktok/bob/watch/set", "OFF")
    await rec.wait_for("tiktok/bob/watch/state", lambda x: x.text == "OFF", timeout=20)
    await bob.wait_closed(20)  # watching off: the socket is given up

    async def flood() -> None:
        for i in range(100_000):
            alice.push(*(m.chat(f"v{j}", f"flood {i}") for j in range(20)))
            await asyncio.sleep(0.005)

    flooding = asyncio.create_task(flood())
    await rec.wait_count("tiktok/alice/chat", 200, timeout=30)
    daemon.signal(signal.SIGTERM)
    assert await daemon.wait() == 0  # clean exit while events were pouring in
    flooding.cancel()
    # The recorder may still be chewing through the flood; what matters is what the broker
    # holds now that the daemon is gone: a late subscriber gets the retained values.
    after = await subscriber(mosquitto, ["tiktok/bridge/state", "tiktok/+/availability"])
    assert (await after.wait_for("tiktok/bridge/state")).text == "offline"
    await after.wait_count("tiktok/+/availability", 2)
    assert {x.text for x in after.on("tiktok/+/availability")} == {"offline"}
    assert "Traceback" not in daemon.text()

    # Restart: bob's OFF switch was persisted in the state directory.
    rec.clear()
    records_bob = len(bob.records)
    daemon = daemon_factory(cfg)
    await rec.wait_for("tiktok/bridge/state", lambda x: x.text == "online", timeout=30)
    await alice.wait_entered(1, 30)
    await rec.wait_for("tiktok/bob/watch/state", lambda x: x.text == "OFF", timeout=20)
    await asyncio.sleep(2)
    assert len(bob.records) == records_bob, "bob must not be connected while switched off"

    # SIGKILL: no goodbye; the broker publishes the retained Will.
    daemon.signal(signal.SIGKILL)
    await daemon.wait()
    await rec.wait_for(
        "tiktok/bridge/state", lambda x: x.text == "offline", timeout=90
    )  # keepalive-bound only if the socket lingered; a killed process closes it at once
    late = await subscriber(mosquitto, "tiktok/bridge/state")
    will = await late.wait_for("tiktok/bridge/state")
    assert will.retain and will.text == "offline"


async def test_sigterm_under_a_command_flood_leaves_offline(
    mosquitto: Mosquitto,
    sim: TikTokSimulator,
    subscriber: Subscribe,
    daemon_factory: Callable[[Path], Daemon],
    tmp_path: Path,
) -> None:
    """Issue 11: with ~1,000 requests/s arriving, SIGTERM ran out of time draining the
    queue, never published `offline`, and then said a clean goodbye, so the Will did not
    fire either: `bridge/state` stayed `online` for good. Now `offline` goes first."""
    alice = sim.add_user("alice", live=True)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(config_yaml(mosquitto, sim, tmp_path / "state", "- alice\n"))
    rec = await subscriber(mosquitto, "tiktok/bridge/state")
    daemon = daemon_factory(cfg)
    await alice.wait_entered(1, 30)
    await rec.wait_for("tiktok/bridge/state", lambda x: x.text == "online", timeout=30)
    topics = [f"tiktok/bridge/request/{c}" for c in ("health_check", "simulate", "nope")]
    flooder = Flooder(mosquitto, [*topics, "tiktok/alice/chat/send"], rate=1000)
    flooder.start()
    try:
        await asyncio.sleep(3)  # a few thousand requests in
        daemon.signal(signal.SIGTERM)
        assert await daemon.wait() == 0
    finally:
        await asyncio.to_thread(flooder.stop)
    assert flooder.sent > 1000
    # A subscriber arriving after the exit reads what the broker keeps: offline.
    late = await subscriber(mosquitto, "tiktok/bridge/state")
    state = await late.wait_for("tiktok/bridge/state")
    assert state.retain and state.text == "offline"
    assert "Traceback" not in daemon.text()
