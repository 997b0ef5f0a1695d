"""The cluster view: members, the streamers each one watches, the last handover.

For a retained MQTT topic (published by one instance: ``ClusterNode.is_view_publisher``).
Read from the members' own records (each heartbeat carries the owner's list), so building it
costs one round trip whatever the number of streamers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.typing import EncodableT

from bridge.cluster.backend import Client, guarded
from bridge.cluster.keys import Keys


@dataclass(frozen=True, slots=True)
class MemberView:
    name: str
    weight: float
    streamers: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "streamers": list(self.streamers)}


@dataclass(frozen=True, slots=True)
class ClusterView:
    members: tuple[MemberView, ...]
    last_handover: Mapping[str, Any] | None

    def owner_of(self, user: str) -> str | None:
        for member in self.members:
            if user in member.streamers:
                return member.name
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": [m.to_dict() for m in self.members],
            "streamers": sum(len(m.streamers) for m in self.members),
            "last_handover": dict(self.last_handover) if self.last_handover else None,
        }


async def read_view(client: Client, keys: Keys, members: Mapping[str, float]) -> ClusterView:
    """The view of the live ``members`` (name → weight, from the latest heartbeat)."""
    names = sorted(members)
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.hget(keys.member(name), "owned")
    pipe.hgetall(keys.handover)
    replies = await guarded(pipe.execute())
    views = []
    for name, owned in zip(names, replies, strict=False):
        try:
            streamers = tuple(json.loads(owned)) if owned else ()
        except ValueError:
            streamers = ()
        views.append(MemberView(name, members[name], streamers))
    handover = replies[-1] or None
    if handover and "token" in handover:
        handover = {**handover, "from": handover.get("from") or None}
    return ClusterView(tuple(views), handover)


async def record_handover(client: Client, keys: Keys, fields: Mapping[str, Any]) -> None:
    mapping: dict[EncodableT, EncodableT] = {
        k: ("" if v is None else str(v)) for k, v in fields.items()
    }
    await guarded(client.hset(keys.handover, mapping=mapping))
