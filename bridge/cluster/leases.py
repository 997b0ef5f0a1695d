"""Leases: who may watch a streamer, with a fencing token; acquire, renew, release.

Each call is one pipelined round trip of per-streamer scripts (each atomic, each in its
streamer's hash slot). The local deadline of a lease is computed by the caller from a
monotonic time taken *before* the request, so it always ends before the server's expiry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bridge.cluster import scripts
from bridge.cluster.backend import Client
from bridge.cluster.keys import Keys

# A streamer's fencing record outlives every lease by far; it expires only so that the
# records of long-removed streamers do not pile up (renewals keep live ones).
FENCE_TTL_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Acquired:
    token: int
    previous: str  # owner id of the previous lease holder ('' if none is recorded)


@dataclass(frozen=True, slots=True)
class Refused:
    wait_s: float  # until the current lease (or the warm-up after a data loss) ends
    holder: str  # owner id of the current holder, '' during a warm-up


def owner_name(owner_id: str) -> str:
    """The instance name in an owner id (``name#session``)."""
    return owner_id.partition("#")[0]


class Leases:
    def __init__(self, client: Client, keys: Keys, owner_id: str, ttl_s: float) -> None:
        self._client = client
        self._keys = keys
        self.owner_id = owner_id
        self._ttl_ms = max(1, round(ttl_s * 1000))

    async def acquire(self, users: Iterable[str]) -> dict[str, Acquired | Refused]:
        users = list(users)
        calls = [
            scripts.Call(
                scripts.ALL["acquire"],
                [self._keys.lease(u), self._keys.fence(u), self._keys.warm(u)],
                [self.owner_id, self._ttl_ms, self._ttl_ms, FENCE_TTL_MS],
            )
            for u in users
        ]
        out: dict[str, Acquired | Refused] = {}
        for user, reply in zip(users, await scripts.run(self._client, calls), strict=True):
            if int(reply[0]) == 1:
                out[user] = Acquired(int(reply[1]), str(reply[2]))
            else:
                out[user] = Refused(max(0, int(reply[1])) / 1000, str(reply[2]))
        return out

    async def renew(self, held: Mapping[str, int]) -> dict[str, bool]:
        calls = [
            scripts.Call(
                scripts.ALL["renew"],
                [self._keys.lease(u), self._keys.fence(u)],
                [self.owner_id, str(token), self._ttl_ms, FENCE_TTL_MS],
            )
            for u, token in held.items()
        ]
        replies = await scripts.run(self._client, calls)
        return {u: int(r) == 1 for u, r in zip(held, replies, strict=True)}

    async def release(self, held: Mapping[str, int]) -> dict[str, bool]:
        calls = [
            scripts.Call(scripts.ALL["release"], [self._keys.lease(u)], [self.owner_id, str(t)])
            for u, t in held.items()
        ]
        replies = await scripts.run(self._client, calls)
        return {u: int(r) == 1 for u, r in zip(held, replies, strict=True)}
