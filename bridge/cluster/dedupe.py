"""Recent msg_ids per streamer in the backend, so a new owner does not republish.

TikTok replays recent messages on every (re)connect; the local ``Deduper`` catches them
within one connection of one instance. After a handover the new owner loads the old
owner's recent ids (``recent``) into its own deduper before it publishes. Owners write in
batches (``add`` buffers, ``flush`` writes; the node flushes every ``dedupe_flush_s`` and
before releasing a lease), each batch one round trip. The set is bounded (``dedupe_max``
newest ids) and expires ``dedupe_ttl_s`` after the last write.

Writes carry the writer's fencing token: a batch from an owner older than one that has
already written is dropped, so a fenced-off instance cannot mix in late.
"""

from __future__ import annotations

import logging

from bridge.cluster import scripts
from bridge.cluster.backend import Client, guarded
from bridge.cluster.keys import Keys

log = logging.getLogger(__name__)

_BATCH = 1000  # ids per script call (Lua's unpack has a stack limit)


class DedupeStore:
    def __init__(self, client: Client, keys: Keys, ttl_s: float, max_ids: int) -> None:
        self._client = client
        self._keys = keys
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._max = max_ids
        self._pending: dict[tuple[str, int], list[int]] = {}

    def add(self, user: str, token: int, msg_id: int) -> None:
        """Remember a published message's id (buffered; nothing is sent)."""
        if msg_id:
            self._pending.setdefault((user, token), []).append(msg_id)

    @property
    def pending(self) -> int:
        return sum(len(ids) for ids in self._pending.values())

    async def flush(self, users: list[str] | None = None) -> int:
        """Write the buffered ids (of ``users``, or all) in one round trip; returns how many
        were refused because a newer owner had written. On a backend error the batch is
        kept for the next flush."""
        batches = [(user, token) for user, token in self._pending if users is None or user in users]
        if not batches:
            return 0
        calls: list[scripts.Call] = []
        for user, token in batches:
            ids = self._pending[(user, token)]
            for start in range(0, len(ids), _BATCH):
                chunk = [str(i) for i in ids[start : start + _BATCH]]
                calls.append(
                    scripts.Call(
                        scripts.ALL["dedupe_add"],
                        [self._keys.dedupe(user), self._keys.fence(user)],
                        [token, self._ttl_ms, self._max, *chunk],
                    )
                )
        replies = await scripts.run(self._client, calls)
        for key in batches:
            self._pending.pop(key, None)
        refused = sum(1 for reply in replies if int(reply) < 0)
        if refused:
            log.info("dropped %d dedupe batch(es) from a superseded owner", refused)
        return refused

    async def recent(self, user: str) -> set[int]:
        """The ids recently published for ``user`` by any owner (newest ``dedupe_max``)."""
        members = await guarded(self._client.zrange(self._keys.dedupe(user), 0, -1))
        return {int(m) for m in map(str, members) if m.isdigit()}
