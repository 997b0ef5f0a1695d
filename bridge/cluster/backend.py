"""The Redis client for the configured mode, and the one error type the package raises.

Every call is bounded by the settings' socket timeout and is not retried by the client:
the coordinator's own loop retries on its schedule, and a call that hangs in a partition
must fail while leases are still valid instead of retrying past their deadline.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeAlias, TypeVar

from redis.asyncio import Redis, RedisCluster, Sentinel
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bridge.cluster.settings import ClusterSettings

Client: TypeAlias = "Redis | RedisCluster"
T = TypeVar("T")

# What a backend call can raise when the backend is unreachable, restarting or refusing.
BACKEND_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


class BackendError(Exception):
    """The backend could not be reached or refused a call (the cause is chained)."""


def connect(settings: ClusterSettings, *, url: str | None = None) -> Client:
    """A client for ``settings`` (``url`` overrides the settings' URL, e.g. for a proxy)."""
    common = {
        "decode_responses": True,
        "socket_timeout": settings.timeout_s,
        "socket_connect_timeout": settings.timeout_s,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
    }
    if settings.mode == "cluster":
        return RedisCluster.from_url(url or settings.url, **common)
    if settings.mode == "sentinel":
        sentinel = Sentinel(list(settings.sentinels), **common)  # type: ignore[arg-type]
        client: Redis = sentinel.master_for(settings.service_name)
        return client
    return Redis.from_url(url or settings.url, **common)  # type: ignore[arg-type]


async def guarded(awaitable: Awaitable[T]) -> T:
    """Await a client call; backend failures become BackendError."""
    try:
        return await awaitable
    except BACKEND_ERRORS as exc:
        raise BackendError(f"{type(exc).__name__}: {exc}") from exc
