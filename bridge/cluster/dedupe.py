"""Recent msg_ids per streamer in the backend, so a new owner does not republish.

TikTok replays recent messages on every (re)connect; the local ``Deduper`` catches them
within one connection of one instance. After a handover the new owner loads the old
owner's recent ids (``recent``) into its own deduper before it publishes. Owners write in
batches (``add`` buffers, ``flush`` writes; the node flushes every ``dedupe_flush_s`` and
before releasing a lease), each batch one round trip. The set is bounded (``dedupe_max``
newest ids) and expires ``dedupe_ttl_s`` after the last write.

The room id of the stream the owner announced (``announce``) is kept apart, in the
streamer's fencing record: it must outlive the msg_ids of a long, busy stream, or the next
owner would announce the stream again.

Writes carry the writer's fencing token: a batch from an owner older than one that has
already written is dropped, so a fenced-off instance cannot mix in late.
"""

from __future__ import annotations

import asyncio
import logging

from bridge.cluster import scripts
from bridge.cluster.backend import Client, guarded
from bridge.cluster.keys import Keys

log = logging.getLogger(__name__)

_BATCH = 1000  # ids per script call (Lua's unpack has a stack limit)

_Key = tuple[str, int]  # (user, fencing token)


class DedupeStore:
    def __init__(self, client: Client, keys: Keys, ttl_s: float, max_ids: int) -> None:
        self._client = client
        self._keys = keys
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._max = max_ids
        self._pending: dict[_Key, list[int]] = {}
        self._announced: dict[_Key, int] = {}  # room id announced, not written yet
        self._flushing = asyncio.Lock()  # one flush at a time: batches stay in order

    def add(self, user: str, token: int, msg_id: int) -> None:
        """Remember a published message's id (buffered; nothing is sent)."""
        if msg_id:
            self._pending.setdefault((user, token), []).append(msg_id)

    def announce(self, user: str, token: int, room_id: int) -> None:
        """Remember that this owner announced the stream ``room_id`` (buffered)."""
        if room_id:
            self._announced[(user, token)] = room_id

    @property
    def pending(self) -> int:
        return sum(len(ids) for ids in self._pending.values()) + len(self._announced)

    async def flush(self, users: list[str] | None = None) -> int:
        """Write the buffered ids (of ``users``, or all) in one round trip; returns how many
        were refused because a newer owner had written. On a backend error the batch is
        kept for the next flush."""
        async with self._flushing:
            buffered = {**self._pending, **self._announced}
            keys = [k for k in buffered if users is None or k[0] in users]
            if not keys:
                return 0
            # Taken before the await: ids added meanwhile wait for the next flush.
            ids = {k: self._pending.pop(k, []) for k in keys}
            rooms = {k: self._announced.pop(k) for k in keys if k in self._announced}
            try:
                replies = await scripts.run(self._client, self._calls(ids, rooms))
            except BaseException:
                self._put_back(ids, rooms)
                raise
        refused = sum(1 for reply in replies if int(reply) < 0)
        if refused:
            log.info("dropped %d dedupe batch(es) from a superseded owner", refused)
        return refused

    def _calls(self, ids: dict[_Key, list[int]], rooms: dict[_Key, int]) -> list[scripts.Call]:
        calls: list[scripts.Call] = []
        for (user, token), batch in ids.items():
            room = str(rooms.get((user, token), ""))
            for start in range(0, max(1, len(batch)), _BATCH):
                chunk = [str(i) for i in batch[start : start + _BATCH]]
                calls.append(
                    scripts.Call(
                        scripts.ALL["dedupe_add"],
                        [self._keys.dedupe(user), self._keys.fence(user)],
                        [token, self._ttl_ms, self._max, room if start == 0 else "", *chunk],
                    )
                )
        return calls

    def _put_back(self, ids: dict[_Key, list[int]], rooms: dict[_Key, int]) -> None:
        for key, batch in ids.items():
            if batch:  # in front of what was added meanwhile
                self._pending[key] = batch + self._pending.get(key, [])
        for key, room in rooms.items():
            self._announced.setdefault(key, room)  # a newer announcement wins

    async def recent(self, user: str) -> set[int]:
        """The ids recently published for ``user`` by any owner (newest ``dedupe_max``), and
        the room id of the stream an owner announced last."""
        members = await guarded(self._client.zrange(self._keys.dedupe(user), 0, -1))
        announced = await guarded(self._client.hget(self._keys.fence(user), "announced"))
        ids = {int(m) for m in map(str, members) if m.isdigit()}
        if announced is not None and str(announced).isdigit():
            ids.add(int(str(announced)))
        return ids
