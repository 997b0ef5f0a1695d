"""ClusterSettings: how one instance takes part in a cluster of bridges.

Owned by this package (the config layer only builds it, as for every other layer). Every
instance of one cluster must use the same ``lease_ttl_s`` and ``key_prefix``: a new owner's
wait after a backend restart is its own TTL, which is only safe if no one holds longer leases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

BackendMode = Literal["single", "sentinel", "cluster"]

# The instance name becomes an MQTT topic level (bridge/<instance>/state) and part of Redis
# keys: keep it to characters that are safe in both.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class ClusterSettingsError(ValueError):
    """Invalid settings; ``problems`` lists (field, message) pairs, all of them at once."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """One instance's view of the cluster.

    * ``url``: ``redis://[user:password@]host:port/db``, ``rediss://`` (TLS) or
      ``unix:///path``; in ``cluster`` mode any node's URL; unused in ``sentinel`` mode.
    * ``mode``: ``single`` (one server), ``sentinel`` (``sentinels`` + ``service_name``; the
      master is found through the sentinels and followed on failover) or ``cluster``
      (Redis Cluster; every key of one streamer shares a hash slot).
    * ``lease_ttl_s``: how long a lease outlives its last renewal. A crashed instance's
      streamers move after about this long; a partitioned one stops watching
      ``safety_margin_s`` before its leases can expire.
    * ``renew_interval_s``: heartbeat and renewal period (default: a third of the TTL, so
      one lost round trip never costs a lease).
    * ``safety_margin_s``: how much earlier than the lease's expiry an instance that cannot
      renew stops watching (default: a tenth of the TTL, at least 0.5 s); it must cover the
      time to stop a watcher and the drift between clocks over one TTL.
    * ``weight``: share of the streamers relative to the other instances (2.0 = twice as many).
    * ``socket_timeout_s``: bound of every backend call (default: the renew interval, at
      most 5 s), so a call into a partition fails while the leases are still valid.
    * ``dedupe_ttl_s`` / ``dedupe_max``: how long and how many recent msg_ids per streamer
      the backend keeps so a new owner does not republish; ``dedupe_flush_s``: how often
      an owner writes them (a crash loses at most this much).
    """

    instance: str
    # Never in a repr: it may carry the Redis password (tracebacks, test output).
    url: str = field(default="redis://localhost:6379/0", repr=False)
    mode: BackendMode = "single"
    sentinels: tuple[tuple[str, int], ...] = ()
    service_name: str = "mymaster"
    lease_ttl_s: float = 15.0
    renew_interval_s: float | None = None
    safety_margin_s: float | None = None
    weight: float = 1.0
    key_prefix: str = "tiktok2mqtt"
    dedupe_ttl_s: float = 600.0
    dedupe_max: int = 2000
    dedupe_flush_s: float = 1.0
    socket_timeout_s: float | None = None

    def __post_init__(self) -> None:
        found = list(_problems(self))
        if found:
            raise ClusterSettingsError(found)

    @property
    def renew_s(self) -> float:
        return self.renew_interval_s if self.renew_interval_s is not None else self.lease_ttl_s / 3

    @property
    def margin_s(self) -> float:
        if self.safety_margin_s is not None:
            return self.safety_margin_s
        return max(0.5, self.lease_ttl_s / 10)

    @property
    def timeout_s(self) -> float:
        """Socket timeout of every backend call: a hung call must fail before the next renewal
        is due, so a partition is noticed while leases are still valid."""
        if self.socket_timeout_s is not None:
            return self.socket_timeout_s
        return max(0.2, min(self.renew_s, 5.0))


def _problems(s: ClusterSettings) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if not _NAME.match(s.instance):
        out.append(("instance", "1-64 characters of A-Z a-z 0-9 _ -"))
    if not _PREFIX.match(s.key_prefix):
        out.append(("key_prefix", "1-64 characters of A-Z a-z 0-9 _ . : - (no braces)"))
    if s.mode not in ("single", "sentinel", "cluster"):
        out.append(("mode", "one of single, sentinel, cluster"))
    if s.mode == "sentinel" and not s.sentinels:
        out.append(("sentinels", "at least one host:port in sentinel mode"))
    if s.mode != "sentinel" and not s.url.startswith(("redis://", "rediss://", "unix://")):
        out.append(("url", "redis://, rediss:// or unix:// URL"))
    if not s.lease_ttl_s > 0:
        out.append(("lease_ttl_s", "must be > 0"))
    if not s.weight > 0:
        out.append(("weight", "must be > 0"))
    if s.renew_interval_s is not None and not s.renew_interval_s > 0:
        out.append(("renew_interval_s", "must be > 0"))
    if s.safety_margin_s is not None and not s.safety_margin_s > 0:
        out.append(("safety_margin_s", "must be > 0"))
    if s.socket_timeout_s is not None and not s.socket_timeout_s > 0:
        out.append(("socket_timeout_s", "must be > 0"))
    if not out and s.margin_s + s.renew_s >= s.lease_ttl_s:
        # A lease must survive at least one renewal period beyond the margin, otherwise an
        # owner would stop watching between two perfectly healthy renewals.
        out.append(("renew_interval_s", "renew interval + safety margin must be < lease_ttl_s"))
    if not s.dedupe_ttl_s > 0:
        out.append(("dedupe_ttl_s", "must be > 0"))
    if s.dedupe_max < 1:
        out.append(("dedupe_max", "must be >= 1"))
    if not s.dedupe_flush_s > 0:
        out.append(("dedupe_flush_s", "must be > 0"))
    return out
