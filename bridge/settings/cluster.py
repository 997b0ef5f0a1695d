"""Settings of several bridge instances sharing one streamer list (`cluster:`).

Without the section the bridge is a single instance, exactly as before. The core turns this
section into `bridge.cluster.ClusterSettings` (docs/cluster.md); the cross-key rule below is
the same one that class checks, so `check-config` reports it with the key's path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from bridge.settings.declare import section, setting
from bridge.settings.problems import Problem
from bridge.settings.schema import join

# The instance name becomes `<base_topic>/bridge/<instance>/state`: it must not be one of
# the bridge's own levels, or its state would land on (or be read as) a bridge topic.
RESERVED_INSTANCES: Final = frozenset(
    {"state", "info", "health", "event", "logging", "request", "response", "cluster"}
)


def instance_problem(name: Any) -> str | None:
    if isinstance(name, str) and name in RESERVED_INSTANCES:
        return f"{name!r} is one of the bridge's own topic levels (<base_topic>/bridge/{name})"
    return None


def _cluster_rules(
    cluster: Mapping[str, Any], path: str, doc: Mapping[str, Any]
) -> Iterator[Problem]:
    ttl, renew, margin = (
        cluster[k] for k in ("lease_ttl_s", "renew_interval_s", "safety_margin_s")
    )
    if not isinstance(ttl, float) or not all(isinstance(v, float | None) for v in (renew, margin)):
        return  # a wrong type was reported on its own key
    renew_s = renew if renew is not None else ttl / 3
    margin_s = margin if margin is not None else max(0.5, ttl / 10)
    if renew_s + margin_s >= ttl:
        # An owner would stop watching between two perfectly healthy renewals.
        yield Problem(
            join(path, "renew_interval_s"),
            f"renew interval ({renew_s:g} s) + safety margin ({margin_s:g} s) must be less "
            f"than lease_ttl_s ({ttl:g} s)",
        )


@section(
    "Several instances sharing one streamer list through Redis (docs/cluster.md); needs the "
    "`cluster` extra (`pip install 'tiktok2mqtt[cluster]'`, in the Docker image). Without "
    "this section the bridge runs alone.",
    rules=_cluster_rules,
)
class ClusterConfig:
    url: str = setting(
        doc="Redis URL: `redis://[user:password@]host:port/db`, `rediss://` for TLS. "
        "Put the password in with `!secret`; it is masked wherever the URL is shown.",
        url=("redis", "rediss"),
        allow_userinfo=True,
        secret=True,
    )
    instance: str = setting(
        doc="This instance's name, unique in the cluster: `<base_topic>/bridge/<instance>/state` "
        "and its Redis member record.",
        pattern=r"[a-z0-9_-]{1,64}",
        pattern_doc="1 to 64 characters: a-z 0-9 _ -",
        rule=instance_problem,
    )
    lease_ttl_s: float = setting(
        default=15.0,
        doc="How long a streamer's lease outlives its last renewal: a crashed instance's "
        "streamers move after about this long. The same on every instance.",
        minimum=1,
        maximum=600,
    )
    renew_interval_s: float | None = setting(
        default=None,
        doc="Heartbeat and lease renewal period.",
        default_doc="a third of `lease_ttl_s`",
        minimum=0.1,
        maximum=300,
    )
    safety_margin_s: float | None = setting(
        default=None,
        doc="How much earlier than its lease's expiry an instance that cannot renew stops "
        "watching.",
        default_doc="a tenth of `lease_ttl_s`, at least 0.5",
        minimum=0.1,
        maximum=300,
    )
    weight: float = setting(
        default=1.0,
        doc="This instance's share of the streamers relative to the others (2 = twice as many).",
        minimum=0.01,
        maximum=1000,
    )
    key_prefix: str = setting(
        default="tiktok2mqtt",
        doc="Prefix of every Redis key (several clusters on one Redis). The same on every "
        "instance.",
        pattern=r"[A-Za-z0-9_.:-]{1,64}",
        pattern_doc="1 to 64 characters: A-Z a-z 0-9 _ . : -",
    )
    sign_calls_per_minute: float = setting(
        default=30.0,
        doc="Sign-server calls per minute for the whole cluster (one API key, one budget, "
        "kept in Redis).",
        minimum=0.1,
        maximum=100000,
    )
    dedupe_ttl_s: float = setting(
        default=600.0,
        doc="How long the msg_ids an owner published are kept in Redis, so a new owner does "
        "not publish them again.",
        minimum=10,
        maximum=86400,
    )
