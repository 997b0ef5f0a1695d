"""The bridge as one instance of a cluster: glue between the core and bridge.cluster.

Kept apart from app.py on purpose: the Bridge calls in here at a few points (start, stop,
the list commands, reload) and implements ``Host``; everything about leases, the shared
list, the shared sign budget, de-duplication across a handover and the cluster view lives
here (docs/cluster.md).

* A streamer's supervisor exists only while this instance holds its lease:
  ``start_watching`` creates it (or raises: the coordinator then releases the lease),
  ``stop_watching`` cancels it. The supervisor also asks ``_Lease.valid()`` before each
  connection attempt and before every publish of an event or a status, so after the lease's
  local deadline nothing more is published even if the cancellation were late.
* A switched-off streamer stays owned (paused, as on a single instance), so its owner keeps
  answering its ``watch/set`` topic and its Home Assistant switch.
* Retained topics of a streamer are left alone on the broker when it moves (the new owner
  republishes them; the old one publishing "stopped" could land after the new owner's
  "connected"), but the old owner forgets them and the HA device, so its reconnects and HA
  births do not send them again (Bridge.stop_streamer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from bridge.cluster import (
    ClusterNode,
    ClusterSettings,
    SharedBudget,
    StopReason,
    StoreSnapshot,
    StreamerEntry,
    rendezvous,
)
from bridge.cluster.backend import BackendError
from bridge.config.model import Config
from bridge.core.commands import CommandError, Data, streamer_request
from bridge.core.streamer import Lease
from bridge.events import Event, StreamEvent
from bridge.mqtt.topics import Topics
from bridge.settings.cluster import ClusterConfig
from bridge.settings.streamer import StreamerSettings
from bridge.tiktok.budget import CallBudget

log = logging.getLogger(__name__)

_RECENT_TIMEOUT_S = 2.0  # a new owner waits this long at most for the old owner's msg_ids


def cluster_settings(cfg: ClusterConfig) -> ClusterSettings:
    return ClusterSettings(
        instance=cfg.instance,
        url=str(cfg.url),
        lease_ttl_s=cfg.lease_ttl_s,
        renew_interval_s=cfg.renew_interval_s,
        safety_margin_s=cfg.safety_margin_s,
        weight=cfg.weight,
        key_prefix=cfg.key_prefix,
        dedupe_ttl_s=cfg.dedupe_ttl_s,
    )


class Host(Protocol):
    """What the glue needs of the Bridge (bridge.core.app)."""

    config: Config

    def start_streamer(
        self, settings: StreamerSettings, *, runtime: bool, lease: Lease
    ) -> None: ...

    async def stop_streamer(self, user: str, *, removed: bool) -> None: ...

    async def stop_streamers(self) -> None:
        """Stop every supervisor at once (their sockets closed when it returns)."""
        ...

    def apply_watch(self, user: str, on: bool) -> None: ...

    def publish_view(self, view: Mapping[str, Any]) -> None: ...


class SignBudget(CallBudget):
    """The process budget, plus the cluster's shared budget for sign-server calls (one API
    key: its limit holds for all instances together)."""

    shared: SharedBudget | None = None
    retry_s: float = 1.0

    async def acquire(self, kind: str) -> None:
        if kind == "sign" and self.shared is not None:
            while True:
                try:
                    await self.shared.acquire(kind)
                    break
                except BackendError as exc:
                    # Spending a shared key without the backend could exceed its limit.
                    log.debug("shared sign budget unavailable: %s", exc)
                    await asyncio.sleep(self.retry_s)
        await super().acquire(kind)

    def block_until(self, unix_ts: float) -> None:
        super().block_until(unix_ts)
        if self.shared is not None:
            task = asyncio.get_running_loop().create_task(self._share_block(unix_ts))
            _background.add(task)
            task.add_done_callback(_background.discard)

    async def _share_block(self, unix_ts: float) -> None:
        assert self.shared is not None
        with contextlib.suppress(BackendError):
            await self.shared.block_until(unix_ts)


_background: set[asyncio.Task[None]] = set()


class _Lease:
    """One held lease as the supervisor sees it (bridge.core.streamer.Lease)."""

    def __init__(self, node: ClusterNode, user: str, token: int) -> None:
        self._node = node
        self.user = user
        self.token = token
        self._recent = asyncio.get_running_loop().create_task(self._load_recent())

    async def _load_recent(self) -> set[int]:
        try:
            return await self._node.dedupe.recent(self.user)
        except BackendError as exc:
            log.warning("%s: msg_ids of the previous owner unavailable: %s", self.user, exc)
            return set()

    def valid(self) -> bool:
        return self._node.holds(self.user) == self.token

    def published(self, events: Sequence[Event]) -> None:
        dedupe = self._node.dedupe
        for event in events:
            if isinstance(event, StreamEvent) and event.kind == "started":
                # No msg_id: its room id is kept as the announced stream (fencing record).
                dedupe.announce(self.user, self.token, event.room_id)
            else:
                dedupe.add(self.user, self.token, event.msg_id)

    async def recent_ids(self) -> Collection[int]:
        try:
            return await asyncio.wait_for(asyncio.shield(self._recent), _RECENT_TIMEOUT_S)
        except TimeoutError:
            return set()

    def cancel(self) -> None:
        self._recent.cancel()


class ClusterGlue:
    """Implements bridge.cluster.OwnershipListener for the Bridge."""

    def __init__(self, host: Host, cfg: ClusterConfig, budget: SignBudget) -> None:
        self._host = host
        self.cfg = cfg
        self.settings = cluster_settings(cfg)
        # Switched-off streamers stay owned (paused), like on a single instance.
        self.node = ClusterNode(
            self.settings, self, on_streamers=self._on_streamers, own_paused=True
        )
        budget.shared = self.node.budget("sign", cfg.sign_calls_per_minute)
        budget.retry_s = self.settings.renew_s
        self._leases: dict[str, _Lease] = {}
        self._last_view: str | None = None

    @property
    def instance(self) -> str:
        return self.settings.instance

    def request_filter(self, topics: Topics) -> str:
        """Requests are a shared subscription: the broker hands each one to one instance."""
        group = "".join(c if c.isalnum() or c in "_-" else "_" for c in self.cfg.key_prefix)
        return f"$share/{group}/{topics.request_filter}"

    @property
    def snapshot(self) -> StoreSnapshot:
        return self.node.store.snapshot

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        entries = [StreamerEntry(s.user, {}, "config") for s in self._host.config.streamers]
        await self.node.start(entries)

    async def close(self) -> None:
        """SIGTERM: stop every watcher and hand every lease over at once, then leave.

        The supervisors are stopped together first (one by one, 200 sockets took seconds on
        a loaded machine); the leases are released only after, so a room is never watched
        twice."""
        await self._host.stop_streamers()
        await self.node.close()

    async def run_view(self) -> None:
        """Publish the retained cluster view when this instance is its publisher."""
        while True:
            await asyncio.sleep(max(0.5, self.settings.renew_s))
            if not self.node.is_view_publisher():
                self._last_view = None
                continue
            try:
                view = (await self.node.view()).to_dict()
            except BackendError:
                continue
            text = json.dumps(view, sort_keys=True)
            if text != self._last_view:
                self._last_view = text
                self._host.publish_view(view)

    # -- OwnershipListener -------------------------------------------------------------------

    async def start_watching(self, user: str, token: int) -> None:
        """Raises CommandError when this instance cannot watch ``user`` (its options are
        refused by this instance's configuration): the coordinator then releases the lease."""
        entry = self.snapshot.entries.get(user)
        settings = self._settings(user, entry)
        lease = _Lease(self.node, user, token)
        self._leases[user] = lease
        runtime = entry is not None and entry.source == "runtime"
        self._host.start_streamer(settings, runtime=runtime, lease=lease)
        if entry is not None:  # the shared switch wins over this instance's state dir
            self._host.apply_watch(user, entry.watch)

    async def stop_watching(self, user: str, reason: StopReason) -> None:
        lease = self._leases.pop(user, None)
        if lease is not None:
            lease.cancel()
        removed = reason == StopReason.UNWATCHED and user not in self.snapshot.entries
        await self._host.stop_streamer(user, removed=removed)

    def _settings(self, user: str, entry: StreamerEntry | None) -> StreamerSettings:
        config = self._host.config
        if entry is None or entry.source == "config":
            configured = config.streamer(user)
            if configured is not None:
                return configured
        options = dict(entry.options) if entry is not None else {}
        # Checked like a request (CommandError): this file's rules may differ.
        settings, _ = streamer_request({**options, "user": user}, config.document)
        return settings

    def _on_streamers(self, snapshot: StoreSnapshot) -> None:
        for user in list(self._leases):
            entry = snapshot.entries.get(user)
            if entry is not None:
                self._host.apply_watch(user, entry.watch)

    # -- the list commands (any instance) ----------------------------------------------------

    async def add(self, data: Mapping[str, Any]) -> Data:
        settings, options = streamer_request(data, self._host.config.document)
        if settings.user in self.snapshot.entries:
            raise CommandError(f"streamer {settings.user!r} is already watched")
        limit = self._host.config.service.max_streamers
        if len(self.snapshot.entries) >= limit:
            raise CommandError(f"already watching {limit} streamers (service.max_streamers)")
        added = await self._store(self.node.store.add(settings.user, options, replace=False))
        if not added:
            raise CommandError(f"streamer {settings.user!r} is already watched")
        return {"user": settings.user, "persistent": True, **options}

    async def remove(self, user: str) -> Data:
        entry = self.snapshot.entries.get(user)
        if entry is None:
            raise CommandError(f"unknown streamer {user!r}")
        await self._store(self.node.store.remove(user))
        return {"user": user, "until_restart": entry.source == "config"}

    async def set_watch(self, user: str, on: bool) -> Data:
        if user not in self.snapshot.entries:
            raise CommandError(f"unknown streamer {user!r}")
        await self._store(self.node.store.set_watch(user, on))
        return {"user": user, "watch": "ON" if on else "OFF"}

    async def reload(self, config: Config) -> None:
        entries = [StreamerEntry(s.user, {}, "config") for s in config.streamers]
        await self._store(self.node.store.replace_config(entries))

    @staticmethod
    async def _store(change: Any) -> bool:
        try:
            return bool(await change)
        except BackendError as exc:
            raise CommandError(f"cluster backend unavailable: {exc}") from None

    def health(self) -> dict[str, Any]:
        """For bridge/<instance>/health: what this instance knows of the cluster."""
        members = self.node.coordinator.members
        return {
            "instance": self.instance,
            "members": sorted(members.weights) if members is not None else [],
            "owned": len(self.node.owned),
            "listed": len(self.snapshot.entries),
        }

    def owner_of(self, user: str) -> str | None:
        members = self.node.coordinator.members
        if members is None or user not in self.snapshot.entries:
            return None
        return rendezvous.owner(user, members.weights)
