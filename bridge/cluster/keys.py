"""Every Redis key and channel of the cluster, built in one place.

Keys that one Lua script touches together share a hash slot (``{...}`` hash tags), so the
same scripts work on Redis Cluster: the cluster-wide keys live under ``{<prefix>}``, each
streamer's lease, fencing record and dedupe set under ``{<prefix>:s:<user>}`` (so the
streamers spread over the cluster's shards). On a single server the braces are just
characters.
"""

from __future__ import annotations

from urllib.parse import quote


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        root = "{" + prefix + "}"
        self.members = f"{root}:members"  # zset: instance → expiry (server ms)
        self.weights = f"{root}:weights"  # hash: instance → weight
        self.streamers = f"{root}:streamers"  # hash: user → JSON entry
        self.watch = f"{root}:watch"  # hash: user → "1" / "0"
        self.store_meta = f"{root}:streamers:meta"  # hash: epoch, version
        self.handover = f"{root}:handover"  # hash: the last ownership change
        self.channel = f"{root}:events"  # pub/sub: nudges between instances
        self._root = root

    def member(self, instance: str) -> str:
        return f"{self._root}:member:{instance}"  # hash with a TTL: session, owned, …

    def budget(self, name: str) -> str:
        return f"{self._root}:budget:{quote(name, safe='')}"

    def _streamer(self, user: str) -> str:
        # quote() keeps braces out of the tag and every user apart ("a:b" vs "a%3Ab").
        return "{" + f"{self.prefix}:s:{quote(user, safe='')}" + "}"

    def lease(self, user: str) -> str:
        return f"{self._streamer(user)}:lease"  # hash owner, token; PX = lease TTL

    def fence(self, user: str) -> str:
        return f"{self._streamer(user)}:fence"  # hash token, owner, dedupe_token

    def warm(self, user: str) -> str:
        return f"{self._streamer(user)}:warm"  # exists while a first lease must wait

    def dedupe(self, user: str) -> str:
        return f"{self._streamer(user)}:dedupe"  # zset msg_id → server ms
