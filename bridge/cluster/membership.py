"""Membership: each instance heartbeats a record with a TTL; the live ones are the members.

A member is live while its entry's expiry (server time) lies ahead. An instance's name may
be used by one process at a time: a second process with the same name (a twin with a copied
config, or our own previous life after a crash) waits until the first one's record expires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bridge.cluster import scripts
from bridge.cluster.backend import BackendError, Client
from bridge.cluster.keys import Keys


class NameInUse(BackendError):
    """Another live process heartbeats under this instance name."""

    def __init__(self, instance: str, wait_s: float) -> None:
        self.wait_s = wait_s
        super().__init__(f"instance name {instance!r} is in use by another live process")


@dataclass(frozen=True, slots=True)
class MemberList:
    server_ms: int  # the backend's clock when the list was read
    weights: Mapping[str, float]  # live member → weight
    expiries: Mapping[str, int]  # live member → expiry (server ms)


class Membership:
    def __init__(
        self, client: Client, keys: Keys, instance: str, session: str, weight: float, ttl_s: float
    ) -> None:
        self._client = client
        self._keys = keys
        self.instance = instance
        self.session = session
        self._weight = weight
        self._ttl_ms = max(1, round(ttl_s * 1000))

    def _member_keys(self) -> list[str]:
        return [self._keys.members, self._keys.weights, self._keys.member(self.instance)]

    async def heartbeat(self, fields: Mapping[str, str]) -> MemberList:
        """Refresh our record (with ``fields`` for the cluster view) and list the members."""
        args: list[str | int | float] = [self.instance, self.session, self._ttl_ms]
        args.append(repr(self._weight))
        for name, value in fields.items():
            args += [name, value]
        reply = await scripts.run_one(
            self._client, scripts.Call(scripts.ALL["heartbeat"], self._member_keys(), args)
        )
        if int(reply[0]) == 0:
            raise NameInUse(self.instance, max(0, int(reply[1])) / 1000)
        weights: dict[str, float] = {}
        expiries: dict[str, int] = {}
        for i in range(2, len(reply), 3):
            name = str(reply[i])
            expiries[name] = int(reply[i + 1])
            weights[name] = _weight(reply[i + 2])
        return MemberList(int(reply[1]), weights, expiries)

    async def leave(self) -> None:
        call = scripts.Call(
            scripts.ALL["leave"], self._member_keys(), [self.instance, self.session]
        )
        await scripts.run_one(self._client, call)


def _weight(raw: object) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        return 1.0
    return value if value > 0 else 1.0
