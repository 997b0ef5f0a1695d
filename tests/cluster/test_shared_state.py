"""Shared state in a real redis-server: the streamer list (any instance accepts changes),
the shared call budget, the msg_id store across a handover, the cluster view."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from bridge.cluster import (
    ClusterNode,
    ClusterSettings,
    ClusterSettingsError,
    StopReason,
    StoreSnapshot,
    StreamerEntry,
)
from bridge.cluster.backend import BackendError
from bridge.cluster.dedupe import DedupeStore
from bridge.cluster.keys import Keys
from bridge.core.cluster import _Lease
from bridge.events import ChatEvent, StreamEvent
from tests.cluster.conftest import TTL_S, MakeNode
from tests.cluster.recorder import Recorder
from tests.helpers.redis_server import RedisServer


def owner(recorder: Recorder, user: str) -> str | None:
    watchers = recorder.owners().get(user, set())
    return next(iter(watchers)) if len(watchers) == 1 else None


async def test_any_member_changes_the_list_and_the_owner_follows(
    make_node: MakeNode, recorder: Recorder
) -> None:
    seen_by_a: list[StoreSnapshot] = []
    a = await make_node("a", streamers=4, on_streamers=seen_by_a.append)
    b = await make_node("b", streamers=4)
    await recorder.wait_until(lambda: len(recorder.owners()) == 4, TTL_S + 10, "4 owned")
    # b accepts an addition; whoever wins it starts it (after one TTL: a new streamer).
    assert await b.store.add("newcomer", {"events": ["gift"]})
    await recorder.wait_until(lambda: owner(recorder, "newcomer") is not None, TTL_S + 10,
                              "newcomer watched")  # fmt: skip
    assert a.store.snapshot.entries["newcomer"].options == {"events": ["gift"]}
    assert a.store.snapshot.entries["newcomer"].source == "runtime"
    assert "newcomer" in seen_by_a[-1].entries  # the core hears of the new options
    # a switches it off, then on again: stop, then start with a higher token.
    first = recorder.starts("newcomer")[-1]
    assert await a.store.set_watch("newcomer", False)
    await recorder.wait_until(lambda: owner(recorder, "newcomer") is None, 10, "switched off")
    stop = [d for d in recorder.decisions if d.user == "newcomer" and d.kind == "stop"][-1]
    assert stop.reason == str(StopReason.UNWATCHED)
    assert not await a.store.set_watch("newcomer", False)  # no change, no version bump
    assert await b.store.set_watch("newcomer", True)
    await recorder.wait_until(lambda: owner(recorder, "newcomer") is not None, 10, "back on")
    assert (recorder.starts("newcomer")[-1].token or 0) > (first.token or 0)
    # Removal from either member stops it everywhere.
    assert await a.store.remove("newcomer")
    await recorder.wait_until(lambda: owner(recorder, "newcomer") is None, 10, "removed")
    await recorder.wait_until(lambda: "newcomer" not in b.store.snapshot.entries, 10, "b knows")
    recorder.check()


async def test_with_own_paused_a_switched_off_streamer_stays_owned(
    make_node: MakeNode, recorder: Recorder
) -> None:
    # The daemon's policy (bridge/core/cluster.py): its owner keeps answering its switch.
    a = await make_node("a", streamers=1, own_paused=True)
    await recorder.wait_until(lambda: owner(recorder, "streamer0000") == "a", TTL_S + 10, "owned")
    assert await a.store.set_watch("streamer0000", False)
    assert await a.store.add("marker", {})  # started in a round after the switch-off
    await recorder.wait_until(lambda: owner(recorder, "marker") == "a", TTL_S + 10, "marker")
    assert owner(recorder, "streamer0000") == "a"
    assert [d.kind for d in recorder.decisions if d.user == "streamer0000"] == ["start"]


async def test_a_lost_list_is_restored_from_a_member_copy(
    make_node: MakeNode, recorder: Recorder, redis_server: RedisServer
) -> None:
    a = await make_node("a", streamers=3)
    await recorder.wait_until(lambda: len(recorder.owners()) == 3, TTL_S + 10, "3 owned")
    await a.store.add("runtime1", {})
    await a.store.set_watch("streamer0000", False)
    async with Redis.from_url(redis_server.url, decode_responses=True) as raw:
        await raw.flushall()  # the backend loses everything
        assert await a.store.refresh() is not None  # restored from a's copy, re-read
        entries = a.store.snapshot.entries
        assert set(entries) == {"streamer0000", "streamer0001", "streamer0002", "runtime1"}
        assert entries["runtime1"].source == "runtime"
        assert not entries["streamer0000"].watch
        assert await raw.hexists(Keys(a.settings.key_prefix).streamers, "runtime1")


async def test_replace_config_keeps_runtime_streamers_and_switches(
    make_node: MakeNode,
) -> None:
    a = await make_node("a", streamers=2)
    await a.store.refresh()
    await a.store.add("extra", {})
    await a.store.set_watch("streamer0001", False)
    assert await a.store.replace_config(
        [StreamerEntry("streamer0001", {"name": "One"}), StreamerEntry("fresh")]
    )
    entries = a.store.snapshot.entries
    assert set(entries) == {"streamer0001", "fresh", "extra"}
    assert entries["streamer0001"].options == {"name": "One"}
    assert not entries["streamer0001"].watch
    assert not await a.store.replace_config(
        [StreamerEntry("streamer0001", {"name": "One"}), StreamerEntry("fresh")]
    )


async def test_shared_budget_is_never_exceeded_across_members(make_node: MakeNode) -> None:
    nodes = [await make_node(name) for name in ("a", "b", "c")]
    rate_per_s, burst = 20.0, 5
    budgets = [n.budget("sign", calls_per_minute=rate_per_s * 60, burst=burst) for n in nodes]
    grants: list[float] = []
    t0 = time.monotonic()

    async def spend(budget_index: int) -> None:
        while time.monotonic() - t0 < 2.0:
            await budgets[budget_index].acquire("sign")
            grants.append(time.monotonic())

    await asyncio.gather(*(spend(i % 3) for i in range(9)))  # 3 callers per member
    elapsed = time.monotonic() - t0
    # All of it: the burst plus the refill over the run (+1 for the call in flight at the end).
    assert len(grants) <= burst + rate_per_s * elapsed + 1
    assert len(grants) >= rate_per_s * 1.5  # and it was really spent, not starved
    # Any 0.5 s window: at most the burst plus half a second of refill, plus one for the
    # latency between the server's clock and ours.
    grants.sort()
    for i, start in enumerate(grants):
        in_window = sum(1 for g in grants[i:] if g - start <= 0.5)
        assert in_window <= burst + rate_per_s * 0.5 + 1
    assert sum(sum(b.calls.values()) for b in budgets) == len(grants)


async def test_a_block_holds_every_member(make_node: MakeNode) -> None:
    a = await make_node("a")
    b = await make_node("b")
    await a.budget("sign", 600).block_until(time.time() + 30)
    wait = await b.budget("sign", 600).try_acquire()
    assert 25 < wait <= 30.5


async def test_dedupe_ids_survive_a_graceful_handover(
    make_node: MakeNode, recorder: Recorder
) -> None:
    a = await make_node("a", streamers=1)
    b = await make_node("b", streamers=1)
    await recorder.wait_until(lambda: owner(recorder, "streamer0000") is not None,
                              TTL_S + 10, "owned")  # fmt: skip
    nodes = {"a": a, "b": b}
    first = nodes[owner(recorder, "streamer0000") or ""]
    token = first.holds("streamer0000")
    assert token is not None
    published = list(range(10**18, 10**18 + 300))  # 64-bit ids
    for msg_id in published:
        first.dedupe.add("streamer0000", token, msg_id)
    await first.release_all()  # flushes before it releases
    second = b if first is a else a
    await recorder.wait_until(lambda: second.holds("streamer0000") is not None, 10, "handover")
    assert await second.dedupe.recent("streamer0000") == set(published)
    recorder.check()


async def test_dedupe_writes_of_a_superseded_owner_are_dropped(
    redis_server: RedisServer, prefix: str
) -> None:
    async with Redis.from_url(redis_server.url, decode_responses=True) as client:
        store = DedupeStore(client, Keys(prefix), ttl_s=60, max_ids=100)
        store.add("alice", 200, 1)
        assert await store.flush() == 0
        store.add("alice", 100, 2)  # an older owner, late
        assert await store.flush() == 1
        for i in range(150):
            store.add("alice", 200, 1000 + i)
        await store.flush()
        recent = await store.recent("alice")
        assert 2 not in recent
        assert len(recent) == 100  # bounded: the newest dedupe_max


async def test_an_announced_stream_outlives_the_msg_ids_of_a_busy_stream(
    make_node: MakeNode,
) -> None:
    # The next owner must see the stream as announced however many ids came after it.
    node = await make_node("a", dedupe_max=50)
    lease = _Lease(node, "alice", 7)
    room = 7_300_000_000_000_000_001  # 64-bit
    lease.published([StreamEvent(msg_id=0, room_id=room, create_time_ms=0, kind="started")])
    await node.dedupe.flush()
    chats = [ChatEvent(msg_id=10**18 + i, room_id=room, create_time_ms=0) for i in range(200)]
    for start in range(0, 200, 20):  # several flushes, as over a long stream
        lease.published(chats[start : start + 20])
        await node.dedupe.flush()
    recent = await node.dedupe.recent("alice")
    assert room in recent
    assert len(recent - {room}) == 50  # the msg_ids stay bounded
    lease.cancel()


async def test_ids_added_while_a_flush_waits_for_redis_are_written_by_the_next(
    redis_server: RedisServer, prefix: str
) -> None:
    async with (
        Redis.from_url(redis_server.url, decode_responses=True) as client,
        Redis.from_url(redis_server.url, decode_responses=True) as control,
    ):
        store = DedupeStore(client, Keys(prefix), ttl_s=60, max_ids=100)
        await client.ping()  # the connection exists: the flush sends at once
        await control.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
        store.add("alice", 200, 1)
        flush = asyncio.create_task(store.flush())
        for _ in range(50):  # let the flush send its script (it cannot complete: paused)
            await asyncio.sleep(0)
        assert not flush.done()
        store.add("alice", 200, 2)  # published while the flush is in flight
        await control.execute_command("CLIENT", "UNPAUSE")
        await flush
        await store.flush()
        assert await store.recent("alice") == {1, 2}


async def test_a_dead_round_loop_is_logged_and_the_node_is_no_longer_alive(
    make_node: MakeNode, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(snapshot: StoreSnapshot) -> None:
        raise RuntimeError("bug in the list callback")

    node = await make_node("a", streamers=1, on_streamers=broken)
    await recorder.wait_until(lambda: not node.alive, 10, "the round loop died")
    failed = [r for r in caplog.records if "cluster-rounds" in r.getMessage()]
    assert failed and failed[0].exc_info is not None  # the traceback, when it happened
    assert "bug in the list callback" in str(failed[0].exc_info[1])


async def test_cluster_view_lists_members_streamers_and_last_handover(
    make_node: MakeNode, recorder: Recorder
) -> None:
    a = await make_node("a", streamers=30)
    b = await make_node("b", streamers=30)
    await recorder.wait_until(
        lambda: len(recorder.owners()) == 30 and len(a.owned) > 0 and len(b.owned) > 0,
        TTL_S + 10,
        "owned",
    )
    view = await a.view()
    deadline = time.monotonic() + 10
    # Members write their lists with their next heartbeat: poll, bounded.
    while sum(len(m.streamers) for m in view.members) != 30 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        view = await a.view()
    assert view.owner_of(next(iter(a.owned))) == "a"
    data = view.to_dict()
    assert [m["name"] for m in data["members"]] == ["a", "b"]
    assert data["streamers"] == 30
    assert set(data["members"][0]["streamers"]) == set(a.owned)
    assert data["last_handover"]["to"] in ("a", "b")
    assert int(data["last_handover"]["token"]) > 0
    assert [a.is_view_publisher(), b.is_view_publisher()].count(True) == 1


def test_settings_report_every_problem_at_once() -> None:
    with pytest.raises(ClusterSettingsError) as info:
        ClusterSettings(instance="bad name", key_prefix="{x}", lease_ttl_s=0, weight=-1)
    keys = {key for key, _ in info.value.problems}
    assert keys == {"instance", "key_prefix", "lease_ttl_s", "weight"}
    with pytest.raises(ClusterSettingsError, match="renew_interval_s"):
        ClusterSettings(instance="a", lease_ttl_s=3, renew_interval_s=2.5)
    ok = ClusterSettings(instance="a")
    assert (ok.renew_s, ok.margin_s) == (5.0, 1.5)


async def test_node_without_backend_does_not_raise(prefix: str) -> None:
    from tests.helpers.redis_server import _free_port

    node = ClusterNode(
        ClusterSettings(instance="a", url=f"redis://127.0.0.1:{_free_port()}/0",
                        key_prefix=prefix, lease_ttl_s=2.5, renew_interval_s=0.5),
        Recorder().listener("a"),
    )  # fmt: skip
    await node.start([StreamerEntry("x")])
    with pytest.raises(BackendError):
        await node.store.add("y", {})
    with pytest.raises(BackendError):
        await node.budget("sign", 60).acquire()
    assert node.holds("x") is None
    await node.close()  # releases nothing, raises nothing


def test_sentinel_and_cluster_clients_are_built_from_settings() -> None:
    # Not connected (both connect on first use): Sentinel and Cluster are not run here.
    from redis.asyncio import Redis as AsyncRedis
    from redis.asyncio import RedisCluster

    from bridge.cluster.backend import connect

    cluster = ClusterSettings(instance="a", mode="cluster", url="redis://127.0.0.1:7000")
    assert isinstance(connect(cluster), RedisCluster)
    sentinel = ClusterSettings(
        instance="a", mode="sentinel", sentinels=(("127.0.0.1", 26379),), service_name="t2m"
    )
    assert isinstance(connect(sentinel), AsyncRedis)
    with pytest.raises(ClusterSettingsError, match="sentinels"):
        ClusterSettings(instance="a", mode="sentinel")
