"""The streamer's supervisor under a cluster lease (bridge/core/cluster.py ``_Lease``), in a
real Bridge with mosquitto, the simulator and a ClusterNode on redis-server: what it may
publish, ask TikTok and record while it holds the lease, and after it lost it."""

from __future__ import annotations

from pathlib import Path

from bridge.cluster import ClusterNode
from bridge.config import Config
from bridge.core.cluster import _Lease
from bridge.settings.commands import SimChat
from bridge.settings.streamer import StreamerSettings
from bridge.sim import TikTokSimulator
from tests.cluster.conftest import TTL_S, MakeNode
from tests.cluster.recorder import Recorder
from tests.core.support import config_yaml, make_config, running, status_is, wait_until
from tests.helpers.mosquitto import Mosquitto, Subscribe
from tests.helpers.redis_server import RedisServer

USER = "streamer0000"  # the name make_node's entries use


def _config(broker: Mosquitto, sim: TikTokSimulator, tmp_path: Path) -> Config:
    text = config_yaml(broker, sim, tmp_path / "state", "[]\n")
    return make_config(text, tmp_path)


async def _holding(make_node: MakeNode, recorder: Recorder) -> tuple[ClusterNode, int]:
    node = await make_node("a", streamers=1)
    await recorder.wait_until(lambda: node.holds(USER) is not None, TTL_S + 10, "owned")
    token = node.holds(USER)
    assert token is not None
    return node, token


async def test_without_the_lease_nothing_is_asked_or_published(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    make_node: MakeNode,
    tmp_path: Path,
) -> None:
    simulator.add_user(USER, live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    node = await make_node("a")  # holds nothing: the lease below is not (or no longer) valid
    lease = _Lease(node, USER, 1)
    async with running(_config(mosquitto, simulator, tmp_path)) as bridge:
        await bridge.sink.wait_connected()
        bridge.start_streamer(StreamerSettings(USER), runtime=True, lease=lease)
        stats = bridge.supervisor(USER).stats
        await wait_until(lambda: stats.reconnects >= 2)  # refused twice at the lease check
        bridge.sink.set_state("tiktok/test/marker", "1")  # after anything published before
        await rec.wait_for("tiktok/test/marker")
    assert simulator.stats.http_requests["/webcast/gift/list/"] == 0  # no stream was started
    assert [m.text for m in rec.on(f"tiktok/{USER}/live")] != ["ON"]
    assert rec.on(f"tiktok/{USER}/stream") == []
    statuses = {m.json()["status"] for m in rec.on(f"tiktok/{USER}/state") if m.payload}
    assert statuses.isdisjoint({"connecting", "connected", "error"})
    lease.cancel()


async def test_simulated_events_are_not_recorded_for_the_next_owner(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    make_node: MakeNode,
    recorder: Recorder,
    tmp_path: Path,
) -> None:
    simulator.add_user(USER, live=False)
    rec = await subscriber(mosquitto, "tiktok/#")
    node, token = await _holding(make_node, recorder)
    lease = _Lease(node, USER, token)
    async with running(_config(mosquitto, simulator, tmp_path)) as bridge:
        await bridge.sink.wait_connected()
        bridge.start_streamer(StreamerSettings(USER), runtime=True, lease=lease)
        await rec.wait_for(f"tiktok/{USER}/state", status_is("waiting_for_live"))
        answer = bridge.simulate(USER, "chat", SimChat(viewer="ann", text="fake"))
        assert answer["events"] == ["chat"]  # published, under the lease
        assert node.dedupe.pending == 0  # but its made-up msg_id is not shared
        await rec.wait_for(f"tiktok/{USER}/chat")
    lease.cancel()


async def test_a_moved_streamer_is_not_republished_by_its_old_owner(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    make_node: MakeNode,
    recorder: Recorder,
    tmp_path: Path,
) -> None:
    simulator.add_user(USER, live=False)
    rec = await subscriber(mosquitto, "tiktok/#")
    node, token = await _holding(make_node, recorder)
    lease = _Lease(node, USER, token)
    async with running(_config(mosquitto, simulator, tmp_path)) as bridge:
        await bridge.sink.wait_connected()
        bridge.start_streamer(StreamerSettings(USER), runtime=True, lease=lease)
        await rec.wait_for(f"tiktok/{USER}/state", status_is("waiting_for_live"))
        await bridge.stop_streamer(USER, removed=False)  # the lease moved to another instance
        reconnects = bridge.sink.stats.reconnects
        mosquitto.restart()  # forgets every retained message; the bridge sends its own again
        await wait_until(lambda: bridge.sink.stats.reconnects > reconnects)
        await bridge.sink.wait_connected()
        late = await subscriber(mosquitto, "tiktok/#")
        bridge.sink.set_state("tiktok/test/marker", "1")
        await late.wait_for("tiktok/test/marker")
    assert [m.topic for m in late.on(f"tiktok/{USER}/#")] == []
    lease.cancel()


async def test_the_watchdog_sees_a_dead_cluster_loop(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    redis_server: RedisServer,
    prefix: str,
    tmp_path: Path,
) -> None:
    text = config_yaml(mosquitto, simulator, tmp_path / "state", "[]\n") + (
        f"cluster:\n  url: {redis_server.url}\n  instance: a\n  key_prefix: {prefix}\n"
    )
    async with running(make_config(text, tmp_path)) as bridge:
        assert bridge.cluster is not None
        node = bridge.cluster.node
        await wait_until(lambda: node.coordinator.joined)
        assert bridge.alive
        rounds = node._tasks[0]  # ends as if it had crashed (cancelled until it is done:
        await wait_until(lambda: (rounds.cancel(), rounds.done())[1])  # see node._cancel)
        assert not node.alive
        assert not bridge.alive  # the systemd watchdog stops pinging
