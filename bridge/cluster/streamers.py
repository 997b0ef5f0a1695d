"""The shared streamer list: configured and runtime streamers and their watch switches.

Stored in the backend so any instance can accept ``streamer/add``, ``remove`` and
``watch/set``; every change bumps a version (and nudges the others), and each instance
reads the whole list again when the (epoch, version) pair it knows changed.

Every instance keeps the last list it read. If the backend comes back empty (restarted
without persistence), the first instance to notice writes its copy back, so runtime
changes survive as long as one instance does.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.cluster import scripts
from bridge.cluster.backend import Client, guarded
from bridge.cluster.keys import Keys

log = logging.getLogger(__name__)

Source = Literal["config", "runtime"]


@dataclass(frozen=True, slots=True)
class StreamerEntry:
    user: str
    options: Mapping[str, Any] = field(default_factory=dict)  # opaque to this package (JSON)
    source: Source = "config"
    watch: bool = True

    def encoded(self) -> str:
        return json.dumps({"source": self.source, "options": dict(self.options)}, sort_keys=True)


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    epoch: str
    version: int
    entries: Mapping[str, StreamerEntry]

    def watched(self) -> frozenset[str]:
        return frozenset(user for user, entry in self.entries.items() if entry.watch)


Publish = Callable[[str], Awaitable[None]]


class StreamerStore:
    def __init__(self, client: Client, keys: Keys, publish: Publish | None = None) -> None:
        self._client = client
        self._keys = keys
        self._publish = publish
        # What this instance knows; epoch "" = never read (only the seed so far).
        self.snapshot = StoreSnapshot("", 0, {})

    def _keys3(self) -> list[str]:
        return [self._keys.streamers, self._keys.watch, self._keys.store_meta]

    def seed_with(self, entries: Iterable[StreamerEntry]) -> None:
        """What to write if the backend has no list yet (the configuration's streamers)."""
        self.snapshot = StoreSnapshot("", 0, {e.user: e for e in entries})

    async def refresh(self) -> StoreSnapshot | None:
        """Read the list if it changed; returns the new snapshot, or None when unchanged.
        An empty backend gets our copy first."""
        meta = await guarded(self._client.hgetall(self._keys.store_meta))
        if not meta:
            await self._seed()
            meta = await guarded(self._client.hgetall(self._keys.store_meta))
        if (meta.get("epoch"), int(meta.get("version", 0))) == self._identity():
            return None
        pipe = self._client.pipeline(transaction=True)
        pipe.hgetall(self._keys.store_meta)
        pipe.hgetall(self._keys.streamers)
        pipe.hgetall(self._keys.watch)
        meta, raw, switches = await guarded(pipe.execute())
        self.snapshot = StoreSnapshot(
            str(meta.get("epoch", "")), int(meta.get("version", 0)), _decode(raw, switches)
        )
        return self.snapshot

    def _identity(self) -> tuple[str | None, int]:
        return (self.snapshot.epoch or None, self.snapshot.version)

    async def _seed(self) -> None:
        entries = list(self.snapshot.entries.values())
        args: list[str | int | float] = [uuid.uuid4().hex, len(entries)]
        for entry in entries:
            args += [entry.user, entry.encoded()]
        for entry in entries:
            args += [entry.user, "1" if entry.watch else "0"]
        call = scripts.Call(scripts.ALL["store_seed"], self._keys3(), args)
        if await scripts.run_one(self._client, call) and self.snapshot.epoch:
            log.warning("the cluster's streamer list was lost; restored this instance's copy")

    # -- changes (any instance) ------------------------------------------------------------

    async def add(self, user: str, options: Mapping[str, Any], *, replace: bool = True) -> bool:
        """Add a runtime streamer (or replace its options). True if something changed."""
        entry = StreamerEntry(user, options, "runtime").encoded()
        return await self._mutate("put" if replace else "put_new", user, entry)

    async def remove(self, user: str) -> bool:
        return await self._mutate("del", user)

    async def set_watch(self, user: str, on: bool) -> bool:
        return await self._mutate("watch", user, "1" if on else "0")

    async def replace_config(self, entries: Iterable[StreamerEntry]) -> bool:
        """The configuration file changed (reload): its streamers replace the configured
        ones; runtime additions and watch switches stay."""
        args: list[str | int | float] = []
        for entry in entries:
            args += [entry.user, StreamerEntry(entry.user, entry.options, "config").encoded()]
        call = scripts.Call(scripts.ALL["store_replace_config"], self._keys3(), args)
        return await self._changed(call)

    async def _mutate(self, op: str, user: str, *value: str) -> bool:
        call = scripts.Call(scripts.ALL["store_mutate"], self._keys3(), [op, user, *value])
        return await self._changed(call)

    async def _changed(self, call: scripts.Call) -> bool:
        version = int(await scripts.run_one(self._client, call))
        if version < 0:  # the list is gone (backend restarted): put ours back, then apply
            await self._seed()
            version = int(await scripts.run_one(self._client, call))
        if version <= 0:
            return False
        if self._publish is not None:
            await self._publish("streamers")
        await self.refresh()
        return True


def _decode(raw: Mapping[str, str], switches: Mapping[str, str]) -> dict[str, StreamerEntry]:
    entries: dict[str, StreamerEntry] = {}
    for user, text in raw.items():
        try:
            data = json.loads(text)
            source: Source = "runtime" if data.get("source") == "runtime" else "config"
            options = dict(data.get("options") or {})
        except (ValueError, AttributeError, TypeError):
            log.warning("skipping unreadable streamer entry %r in the backend", user)
            continue
        entries[user] = StreamerEntry(user, options, source, switches.get(user, "1") != "0")
    return entries
