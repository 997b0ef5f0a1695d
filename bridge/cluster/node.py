"""ClusterNode: one instance's membership in the cluster, the object the bridge core holds.

    node = ClusterNode(settings, listener, on_streamers=…, own_paused=…)  # OwnershipListener
    await node.start(config_entries)                  # seeds an empty backend, joins
    node.holds(user) -> token | None                  # gate every publish with it
    await node.store.add(...) / remove / set_watch    # any instance accepts commands
    budget = node.budget("sign", calls_per_minute=60)
    await node.release_all()                          # SIGTERM: hand everything over now
    await node.close()

Runs four tasks: the round loop (heartbeat, renew, rebalance), the deadline watchdog, the
pub/sub listener (nudges) and the dedupe flusher. It never raises on backend errors after
``start``: it keeps trying, and leases end by their deadlines while the backend is away.
Anything else that ends one of the tasks is logged at once and turns ``alive`` false (the
bridge's watchdog then stops pinging systemd).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from bridge.cluster import rendezvous
from bridge.cluster.backend import BackendError, Client, connect
from bridge.cluster.budget import SharedBudget
from bridge.cluster.clock import SYSTEM_CLOCK, Clock
from bridge.cluster.coordinator import Coordinator, Handover, OwnershipListener
from bridge.cluster.dedupe import DedupeStore
from bridge.cluster.keys import Keys
from bridge.cluster.leases import Leases
from bridge.cluster.membership import Membership
from bridge.cluster.notify import Notifier
from bridge.cluster.settings import ClusterSettings
from bridge.cluster.streamers import StoreSnapshot, StreamerEntry, StreamerStore
from bridge.cluster.view import ClusterView, read_view, record_handover

log = logging.getLogger(__name__)

# The cluster view is published by the rendezvous owner of this reserved key (one instance,
# which changes only when membership changes).
VIEW_KEY = "\x00cluster-view"


class ClusterNode:
    def __init__(
        self,
        settings: ClusterSettings,
        listener: OwnershipListener,
        *,
        clock: Clock = SYSTEM_CLOCK,
        client: Client | None = None,
        on_streamers: Callable[[StoreSnapshot], None] | None = None,
        own_paused: bool = False,
    ) -> None:
        self.settings = settings
        # The one "wanted" policy: every listed streamer (switched-off ones stay owned,
        # paused, so their owner still answers their switch), or only the switched-on ones.
        self._own_paused = own_paused
        self.clock = clock
        self.session = uuid.uuid4().hex[:12]
        self.client = client if client is not None else connect(settings)
        self.keys = Keys(settings.key_prefix)
        self._notifier = Notifier(
            self.client, self.keys.channel, settings.instance, clock, settings.renew_s
        )
        self.store = StreamerStore(self.client, self.keys, self._list_changed)
        self.dedupe = DedupeStore(
            self.client, self.keys, settings.dedupe_ttl_s, settings.dedupe_max
        )
        membership = Membership(
            self.client,
            self.keys,
            settings.instance,
            self.session,
            settings.weight,
            settings.lease_ttl_s,
        )
        leases = Leases(
            self.client, self.keys, f"{settings.instance}#{self.session}", settings.lease_ttl_s
        )
        self.coordinator = Coordinator(
            settings,
            membership,
            leases,
            listener,
            clock,
            publish=self._notifier.publish,
            before_release=self._flush_dedupe,
            record_handover=self._record_handover,
        )
        self._on_streamers = on_streamers  # the list changed: options of owned streamers
        self._wake = asyncio.Event()
        self._applied: StoreSnapshot | None = None  # the list the coordinator works from
        self._tasks: list[asyncio.Task[None]] = []
        self._loop_task: asyncio.Task[None] | None = None
        self._released = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, entries: Iterable[StreamerEntry] = ()) -> None:
        """Join the cluster. ``entries`` (the configuration's streamers) are written only if
        the backend has no streamer list yet. Returns at once; the first round runs now."""
        self.store.seed_with(entries)
        self._loop_task = self._spawn(self._rounds(), "cluster-rounds")
        self._spawn(self.coordinator.watch_deadlines(), "cluster-deadlines")
        self._spawn(self._notifier.run(self._on_nudge), "cluster-pubsub")
        self._spawn(self._flush_periodically(), "cluster-dedupe")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=f"{name}:{self.settings.instance}")
        task.add_done_callback(self._ended)
        self._tasks.append(task)
        return task

    def _ended(self, task: asyncio.Task[None]) -> None:
        # Said when it happens, not at close(): a dead round loop means no heartbeat and no
        # renewal, and `alive` (the systemd watchdog) turns false with it.
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("cluster task %s failed", task.get_name(), exc_info=exc)
        elif not self._released:
            log.error("cluster task %s ended", task.get_name())

    @property
    def alive(self) -> bool:
        """False once one of the node's own loops ended before ``release_all``/``close``."""
        return self._released or not any(task.done() for task in self._tasks)

    async def release_all(self) -> None:
        """SIGTERM: stop the rounds, stop watching everything, release every lease, leave."""
        if self._released:
            return
        self._released = True  # the round loop ends at its next turn, at the latest
        if self._loop_task is not None:
            await _cancel(self._loop_task)
        with contextlib.suppress(BackendError):
            await self.dedupe.flush()
        await self.coordinator.release_all()

    async def close(self) -> None:
        """``release_all`` (if not done), then end every task and the connections."""
        await self.release_all()
        for task in self._tasks:
            await _cancel(task)
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.client.aclose()

    async def __aenter__(self) -> ClusterNode:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- what the core uses ------------------------------------------------------------------

    def holds(self, user: str) -> int | None:
        """This instance's fencing token for ``user`` while it may watch it, else None."""
        return self.coordinator.holds(user)

    @property
    def owned(self) -> dict[str, int]:
        return self.coordinator.owned

    def budget(
        self, name: str, calls_per_minute: float, *, burst: int | None = None
    ) -> SharedBudget:
        return SharedBudget(
            self.client, self.keys.budget(name), calls_per_minute, self.clock, burst=burst
        )

    async def view(self) -> ClusterView:
        members = self.coordinator.members
        return await read_view(self.client, self.keys, members.weights if members else {})

    def is_view_publisher(self) -> bool:
        members = self.coordinator.members
        if members is None:
            return False
        return rendezvous.owner(VIEW_KEY, members.weights) == self.settings.instance

    def poke(self) -> None:
        """Run a round now (e.g. after a local change)."""
        self._wake.set()

    # -- internals ---------------------------------------------------------------------------

    async def _rounds(self) -> None:
        while not self._released:
            self._wake.clear()
            await self._refresh_streamers()
            delay = await self.coordinator.tick()
            await self._sleep_or_wake(delay)

    async def _refresh_streamers(self) -> None:
        try:
            await self.store.refresh()
        except BackendError as exc:
            log.debug("streamer list not refreshed: %s", exc)
        snapshot = self.store.snapshot
        # Compare with what was handed on, not with refresh()'s answer: a change made
        # through this instance's own store was read back inside the call that made it.
        if not snapshot.epoch or snapshot is self._applied:
            return
        self._applied = snapshot
        self.coordinator.set_wanted(snapshot.entries if self._own_paused else snapshot.watched())
        if self._on_streamers is not None:
            self._on_streamers(snapshot)

    async def _list_changed(self, kind: str) -> None:
        """A change made here: nudge the others, and run our own round now."""
        await self._notifier.publish(kind)
        self._wake.set()

    async def _sleep_or_wake(self, seconds: float) -> None:
        wake = asyncio.ensure_future(self._wake.wait())
        sleep = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({wake, sleep}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            sleep.cancel()

    def _on_nudge(self, kind: str) -> None:
        if kind == "released":
            self.coordinator.on_released()
        self._wake.set()

    async def _flush_dedupe(self, users: list[str]) -> None:
        await self.dedupe.flush(users)

    async def _flush_periodically(self) -> None:
        while True:
            await self.clock.sleep(self.settings.dedupe_flush_s)
            if self.dedupe.pending:
                try:
                    await self.dedupe.flush()
                except BackendError as exc:
                    log.debug("dedupe flush failed (kept for the next one): %s", exc)

    async def _record_handover(self, handover: Handover) -> None:
        await record_handover(self.client, self.keys, handover.to_dict())


async def _cancel(task: asyncio.Task[None]) -> None:
    # Cancel until it is done: a cancellation that lands inside a redis-py call can come
    # back as a connection error, which the loops treat as a backend failure and go on.
    # A failure was logged when it happened (ClusterNode._ended).
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
