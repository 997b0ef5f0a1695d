"""Ownership: which streamers this instance watches, decided round by round.

Each round (every ``renew_s``, or at once when another instance nudges us): heartbeat and
read the members; the streamers this instance should own are those whose weighted
rendezvous winner it is; renew the leases it holds and still should; stop watching and
release those that moved; acquire the rest, each as soon as the previous lease allows.

Safety rests on one rule: an instance watches a streamer only until the local deadline
of its lease, ``t0 + TTL - margin`` with ``t0`` the monotonic time taken *before* the
request that acquired or last renewed it. The server's expiry is later than ``t0 + TTL``,
so an instance that cannot renew (backend down, partition, hung call) stops at least
``margin`` before anyone else can acquire. A separate watchdog task enforces deadlines, so
a call hanging in a partition cannot delay a stop. Decisions go to an
``OwnershipListener``; a voluntary release happens only after ``stop_watching`` returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from bridge.cluster import rendezvous
from bridge.cluster.backend import BackendError
from bridge.cluster.clock import Clock
from bridge.cluster.leases import Acquired, Leases, owner_name
from bridge.cluster.membership import MemberList, Membership, NameInUse
from bridge.cluster.settings import ClusterSettings

log = logging.getLogger(__name__)

_MIN_DELAY_S = 0.01
_WAKE_AFTER_S = 0.02  # after a member's or lease's expiry, so the server agrees it is gone
# A streamer this instance could not start watching (start_watching raised, e.g. its
# options are refused here) is released, and tried again after this long.
_START_RETRY_S = 60.0


class StopReason(StrEnum):
    MOVED = "moved"  # another instance should own it now (rebalance after join/leave)
    UNWATCHED = "unwatched"  # no longer wanted: removed from the list (or switched off)
    LOST = "lost"  # the lease could not be renewed in time, or was refused
    SHUTDOWN = "shutdown"  # release_all()


class OwnershipListener(Protocol):
    """What the bridge core implements. Both calls must be quick (start a task; cancel one
    and wait for it briefly): a LOST stop has ``margin`` seconds to take effect."""

    async def start_watching(self, user: str, token: int) -> None:
        """Raise if ``user`` cannot be watched here: the lease is then released (a held
        lease with nothing watching would keep every other instance away)."""
        ...

    async def stop_watching(self, user: str, reason: StopReason) -> None: ...


@dataclass(slots=True)
class _Held:
    token: int
    deadline: float  # clock.monotonic() after which we must no longer watch


@dataclass(frozen=True, slots=True)
class Handover:
    user: str
    previous: str | None  # instance name, None for a first owner
    owner: str
    token: int
    at: float  # unix time

    def to_dict(self) -> dict[str, object]:
        return {
            "streamer": self.user,
            "from": self.previous,
            "to": self.owner,
            "token": str(self.token),
            "at": round(self.at, 3),
        }


Publish = Callable[[str], Awaitable[None]]
Hook = Callable[[list[str]], Awaitable[None]]


class Coordinator:
    def __init__(
        self,
        settings: ClusterSettings,
        membership: Membership,
        leases: Leases,
        listener: OwnershipListener,
        clock: Clock,
        *,
        publish: Publish | None = None,
        before_release: Hook | None = None,
        record_handover: Callable[[Handover], Awaitable[None]] | None = None,
    ) -> None:
        self._settings = settings
        self._membership = membership
        self._leases = leases
        self._listener = listener
        self._clock = clock
        self._publish = publish
        self._before_release = before_release
        self._record_handover = record_handover
        self.instance = settings.instance
        self._held: dict[str, _Held] = {}
        self._wanted: frozenset[str] = frozenset()
        self._retry_at: dict[str, float] = {}  # user → monotonic time of the next attempt
        self._busy: set[str] = set()  # users whose last refusal was another live holder
        self._desired_cache: tuple[tuple[tuple[str, float], ...], frozenset[str], set[str]] = (
            (),
            frozenset(),
            set(),
        )
        self.members: MemberList | None = None
        self.joined = False
        self.last_handover: Handover | None = None
        self._transition = asyncio.Lock()  # held-set changes and listener calls, never I/O
        self._deadlines_changed = asyncio.Event()
        self._backend_ok = True
        self._closing = False

    # -- queries (synchronous: the core calls them on its hot path) --------------------------

    def holds(self, user: str) -> int | None:
        """The fencing token if this instance may watch ``user`` right now, else None.
        Checks the local deadline itself, so it is exact even between watchdog wake-ups."""
        held = self._held.get(user)
        if held is None or self._clock.monotonic() >= held.deadline:
            return None
        return held.token

    @property
    def owned(self) -> dict[str, int]:
        return {user: held.token for user, held in self._held.items()}

    def set_wanted(self, users: Iterable[str]) -> None:
        """The streamers the cluster keeps owned by someone (ClusterNode's policy: the
        listed ones, or only those switched on; see its ``own_paused``)."""
        self._wanted = frozenset(users)

    def on_released(self) -> None:
        """Another instance released leases: retry the streamers it held at once."""
        for user in self._busy:
            self._retry_at.pop(user, None)
        self._busy.clear()

    # -- one round ---------------------------------------------------------------------------

    async def tick(self) -> float:
        """Heartbeat, renew, release, acquire. Returns the seconds until the next round."""
        if self._closing:
            return self._settings.renew_s
        try:
            members = await self._membership.heartbeat(self._member_fields())
        except NameInUse as exc:
            log.warning("%s; waiting %.1f s for its record to expire", exc, exc.wait_s)
            return max(_MIN_DELAY_S, min(self._settings.renew_s, exc.wait_s + _WAKE_AFTER_S))
        except BackendError as exc:
            self._backend_failed(exc)
            return self._retry_s
        self.members = members
        if not self.joined:
            self.joined = True
            await self._notify("joined")
        try:
            desired = await self._desired(members)
            await self._renew(desired)
            await self._release_moved(desired)
            await self._acquire(desired)
        except BackendError as exc:
            self._backend_failed(exc)
            return self._retry_s
        if not self._backend_ok:
            log.info("cluster backend reachable again")
            self._backend_ok = True
        return self._next_delay(members)

    @property
    def _retry_s(self) -> float:
        # Deadlines are near when renewals fail: try again soon, but do not hammer.
        return min(self._settings.renew_s, max(0.1, self._settings.margin_s / 2))

    def _backend_failed(self, exc: BaseException) -> None:
        if self._backend_ok:
            log.warning("cluster backend unavailable: %s (leases end at their deadline)", exc)
            self._backend_ok = False

    def _member_fields(self) -> dict[str, str]:
        return {"owned": json.dumps(sorted(self._held))}

    async def _desired(self, members: MemberList) -> set[str]:
        """Our share of the wanted streamers (cached, and computed in chunks: 10,000 × 50
        hashes cost ~0.5 s, which must not hold the event loop)."""
        key = tuple(sorted(members.weights.items()))
        cached_key, cached_wanted, cached = self._desired_cache
        if key != cached_key or self._wanted is not cached_wanted:
            wanted = self._wanted
            cached = await rendezvous.owned_share(wanted, members.weights, self.instance)
            self._desired_cache = (key, wanted, cached)
        return cached

    async def _renew(self, desired: set[str]) -> None:
        tokens = {u: h.token for u, h in self._held.items() if u in desired}
        if not tokens:
            return
        t0 = self._clock.monotonic()
        results = await self._leases.renew(tokens)
        deadline = t0 + self._settings.lease_ttl_s - self._settings.margin_s
        async with self._transition:
            for user, renewed in results.items():
                held = self._held.get(user)
                if held is None or held.token != tokens[user]:
                    continue  # stopped (deadline) while the request was out
                if renewed:
                    held.deadline = max(held.deadline, deadline)
                else:
                    log.warning("lease of %s was lost (expired or taken over)", user)
                    await self._stop(user, StopReason.LOST)
        self._deadlines_changed.set()

    async def _release_moved(self, desired: set[str]) -> None:
        moved = [u for u in self._held if u not in desired]
        if not moved:
            return
        tokens: dict[str, int] = {}
        async with self._transition:
            for user in moved:
                held = self._held.get(user)
                if held is None:
                    continue
                tokens[user] = held.token
                reason = StopReason.MOVED if user in self._wanted else StopReason.UNWATCHED
                await self._stop(user, reason)
        await self._release(tokens)

    async def _release(self, tokens: dict[str, int]) -> None:
        if not tokens:
            return
        if self._before_release is not None:
            try:
                await self._before_release(list(tokens))
            except BackendError as exc:
                log.debug("before-release hook failed: %s", exc)
        await self._leases.release(tokens)
        await self._notify("released")

    async def _acquire(self, desired: set[str]) -> None:
        now = self._clock.monotonic()
        for user in [u for u in self._retry_at if u not in desired or u in self._held]:
            del self._retry_at[user]
            self._busy.discard(user)
        candidates = [
            u for u in desired if u not in self._held and self._retry_at.get(u, 0.0) <= now
        ]
        if not candidates:
            return
        t0 = self._clock.monotonic()
        results = await self._leases.acquire(candidates)
        deadline = t0 + self._settings.lease_ttl_s - self._settings.margin_s
        handovers: list[Handover] = []
        unwatched: dict[str, int] = {}
        async with self._transition:
            for user, result in results.items():
                if isinstance(result, Acquired):
                    self._retry_at.pop(user, None)
                    self._busy.discard(user)
                    if self._clock.monotonic() >= deadline:
                        continue  # the reply came too late to use; it expires unused
                    self._held[user] = _Held(result.token, deadline)
                    if not await self._start(user, result.token):
                        # Never hold a lease with nothing watching: release it.
                        del self._held[user]
                        unwatched[user] = result.token
                        self._retry_at[user] = self._clock.monotonic() + _START_RETRY_S
                        continue
                    previous = owner_name(result.previous) if result.previous else None
                    handovers.append(
                        Handover(user, previous, self.instance, result.token, time.time())
                    )
                else:
                    self._retry_at[user] = self._clock.monotonic() + result.wait_s + _WAKE_AFTER_S
                    if result.holder:
                        self._busy.add(user)
        self._deadlines_changed.set()
        with contextlib.suppress(BackendError):  # else it expires after the TTL
            await self._release(unwatched)
        if handovers:
            self.last_handover = handovers[-1]
            if self._record_handover is not None:
                with contextlib.suppress(BackendError):
                    await self._record_handover(handovers[-1])

    def _next_delay(self, members: MemberList) -> float:
        delay = self._settings.renew_s
        now = self._clock.monotonic()
        if self._retry_at:
            delay = min(delay, min(self._retry_at.values()) - now)
        others = [exp for name, exp in members.expiries.items() if name != self.instance]
        if others:
            # Right after a silent member's record expires, its streamers are ours to take.
            delay = min(delay, (min(others) - members.server_ms) / 1000 + _WAKE_AFTER_S)
        return max(_MIN_DELAY_S, delay)

    # -- transitions (under self._transition) -------------------------------------------------

    async def _start(self, user: str, token: int) -> bool:
        log.info("cluster: watching %s (token %d)", user, token)
        try:
            await self._listener.start_watching(user, token)
        except Exception:
            log.exception("start_watching(%s) failed: lease released", user)
            return False
        return True

    async def _stop(self, user: str, reason: StopReason) -> None:
        if self._held.pop(user, None) is None:
            return
        log.info("cluster: no longer watching %s (%s)", user, reason)
        try:
            await self._listener.stop_watching(user, reason)
        except Exception:
            log.exception("stop_watching(%s) failed", user)

    # -- deadlines ---------------------------------------------------------------------------

    async def watch_deadlines(self) -> None:
        """Run forever: stop watching every streamer whose lease deadline has passed."""
        while True:
            self._deadlines_changed.clear()
            now = self._clock.monotonic()
            if any(h.deadline <= now for h in self._held.values()):
                async with self._transition:
                    for user in [u for u, h in self._held.items() if h.deadline <= now]:
                        log.warning("lease of %s not renewed in time: stopping", user)
                        await self._stop(user, StopReason.LOST)
                continue
            nearest = min((h.deadline for h in self._held.values()), default=math.inf)
            await self._sleep_or_change(nearest - now)

    async def _sleep_or_change(self, seconds: float) -> None:
        changed = asyncio.ensure_future(self._deadlines_changed.wait())
        waiters: set[asyncio.Future[Any]] = {changed}
        if math.isfinite(seconds):
            waiters.add(asyncio.ensure_future(self._clock.sleep(seconds)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    # -- leaving -----------------------------------------------------------------------------

    async def release_all(self) -> None:
        """Stop watching everything, release every lease and leave the member list at once
        (SIGTERM). The caller has stopped the round loop. Backend errors are logged: the
        leases then end by themselves after the TTL."""
        self._closing = True
        tokens: dict[str, int] = {}
        async with self._transition:
            for user in list(self._held):
                tokens[user] = self._held[user].token
                await self._stop(user, StopReason.SHUTDOWN)
        self._deadlines_changed.set()
        try:
            await self._release(tokens)
            await self._membership.leave()
            await self._notify("left")
        except BackendError as exc:
            log.warning("could not release leases (they expire in %.1f s): %s",
                        self._settings.lease_ttl_s, exc)  # fmt: skip

    async def _notify(self, kind: str) -> None:
        if self._publish is not None:
            await self._publish(kind)
