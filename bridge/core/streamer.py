"""One supervisor per watched streamer: the connection life cycle as a state machine.

    waiting_for_live ──(live check says live)──► connecting ──► connected
          ▲                                                       │
          │  stream ended (control 3/4, or silent + not live)     │
          ├───────────────────────────────────────────────────────┤
          │  transport lost / errors: back-off (full jitter)      │
          └──────────── then a live check again ◄─────────────────┘

Two different ends, on purpose (docs/protocol.md §5.8): a *stream end* turns ``live``
OFF and goes back to polling; a *transport loss* keeps ``live`` ON and reconnects after a
back-off, because only a live check may say the stream is over. That check comes at once
after a loss (before the back-off), so a stream that ended without a control message shows
OFF without delay; live means room info's status 2 or the live page, never
``room/check_alive`` alone (it says "alive" for every room since 2026, docs/protocol.md
§3.5). The StreamProcessor belongs to the stream (room id), not to the connection, so its
msg_id de-duplication swallows the history TikTok replays after a reconnect.

Never dies: every exception becomes a published status and a delay.

Politeness towards TikTok (docs/protocol.md §5.9, §7): a stream end is followed by a few faster
polls (streamers often restart at once), blocks wait ``blocked_backoff_s``, connection
attempts are capped per streamer and hour, and one "user not found" for an account that
existed before is not believed until ``not_found_confirmations`` answers in a row say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from bridge.clock import SYSTEM_CLOCK, Clock
from bridge.core.publish import StreamerPublisher, decoded_topics
from bridge.events import Event, GiftInfo, StreamEvent, StreamProcessor
from bridge.service.tasks import first_completed, full_jitter
from bridge.settings.streamer import StreamerSettings
from bridge.settings.tiktok import SupervisorSettings
from bridge.tiktok import errors
from bridge.tiktok.client import PushSession, RoomInfo, TikTokClient

log = logging.getLogger(__name__)

TICK_S = 0.25  # drives like windows, gift streak timeouts and throttled state publishing
CAP_WINDOW_S = 3600.0  # max_reconnects_per_hour counts attempts in this rolling window


@dataclass(slots=True)
class SupervisorStats:
    reconnects: int = 0
    connects: int = 0
    silent_sockets: int = 0  # connections that delivered no message (SilentSocket)
    events: int = 0  # events produced by the processors (before the per-streamer filter)
    decode_errors: int = 0
    duplicates: int = 0


class _StreamEnded(Exception):
    """Internal: the stream is over (control message, or silent and no longer live)."""

    def __init__(self, reason: str, *, announced: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.announced = announced  # the stream event came from TikTok (control message)


class ReconnectCapped(errors.TikTokError):
    """Too many connection attempts in the last hour: wait ``backoff_max_s`` (hammering a
    flapping room is what gets an IP flagged, docs/protocol.md §7)."""

    status = "reconnect_limited"
    transient = False
    summary = "holding back after too many reconnects"


class UnconfirmedNotFound(errors.TikTokError):
    """A "user not found" for an account seen before, not yet confirmed: TikTok answers it
    now and then for accounts that exist, even while live (docs/protocol.md §7)."""

    status = "error"
    summary = "TikTok says the user does not exist (not believed yet)"


class Backoff:
    """Exponential back-off with full jitter (AWS style): uniform(0, min(cap, base·2^n))."""

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        delay = full_jitter(self.failures, base=self.initial_s, cap=self.max_s, rng=self._rng)
        self.failures += 1
        # Never 0: a tight loop against TikTok deepens IP scoring (docs/protocol.md §7).
        return max(delay, min(1.0, self.initial_s))

    def reset(self) -> None:
        self.failures = 0


def jittered(interval_s: float, jitter: float, rng: random.Random) -> float:
    return max(1.0, interval_s * (1 + rng.uniform(-jitter, jitter)))


class Lease(Protocol):
    """A cluster lease on one streamer (implemented in bridge/core/cluster.py)."""

    def valid(self) -> bool: ...

    def published(self, events: Sequence[Event]) -> None: ...

    async def recent_ids(self) -> Collection[int]:
        """msg_ids a previous owner already published (TikTok replays them on connect)."""
        ...


class StreamerSupervisor:
    def __init__(
        self,
        settings: StreamerSettings,
        supervisor: SupervisorSettings,
        client: TikTokClient,
        publisher: StreamerPublisher,
        *,
        watching: bool = True,
        start_delay_s: float = 0.0,
        on_rate_limited: Callable[[float], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        lease: Lease | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock  # every delay and timer below; time.time() only stamps payloads
        self.sup = supervisor
        self.client = client
        self.pub = publisher
        self.stats = SupervisorStats()
        self._watching = watching
        self._start_delay_s = start_delay_s
        self._on_rate_limited = on_rate_limited
        # Cluster mode only (bridge/core/cluster.py): nothing connects or publishes once this
        # instance's lease on the streamer ended.
        self._lease = lease
        self._rng = random.Random()
        self._backoff = Backoff(supervisor.backoff_initial_s, supervisor.backoff_max_s, self._rng)
        self._processor: StreamProcessor | None = None  # the live stream's, survives reconnects
        self._sim_processor: StreamProcessor | None = None  # for `simulate` requests only
        self._not_before = 0.0  # monotonic: RateLimited.retry_at (a reconnect cannot skip it)
        self._resume_at = 0.0  # monotonic: back-off or poll delay (a reconnect skips it)
        self._cycle_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # Set when something becomes time-driven (an open stream, pending windows, a dirty
        # state JSON); the tick task sleeps on it otherwise.
        self._tick_wake = asyncio.Event()
        self._last_activity = self._clock.monotonic()
        self._connected_at: float | None = None
        # The last `msg` frame of this connection, on this supervisor's clock (the push
        # session's own stats run on real time, for its socket timeouts).
        self._last_msg_at: float | None = None
        self._ended_polls_left = 0  # faster polls still due after a stream end
        self._connect_attempts: deque[float] = deque()  # monotonic, last CAP_WINDOW_S only
        self._seen_user = False  # the account resolved at least once (it exists)
        self._not_found_streak = 0  # consecutive "user not found" answers
        # The connection of a live stream was lost: ask whether it is still live before
        # the back-off, so a silent stream end shows at once (docs/protocol.md §5.7).
        self._confirm_live = False

    # ---------------------------------------------------------------- public API

    @property
    def user(self) -> str:
        return self.settings.user

    @property
    def watching(self) -> bool:
        return self._watching

    @property
    def decode_errors(self) -> int:
        current = self._processor.stats.bad if self._processor else 0
        return self.stats.decode_errors + current

    @property
    def duplicates(self) -> int:
        current = self._processor.stats.duplicates if self._processor else 0
        return self.stats.duplicates + current

    @property
    def backoff_failures(self) -> int:
        """Consecutive transient failures: how deep into the back-off the streamer is."""
        return self._backoff.failures

    @property
    def live_room_id(self) -> int | None:
        state = self.pub.state
        return state.room_id if state.live else None

    def update_settings(self, settings: StreamerSettings) -> None:
        """Apply new settings (reload); processor options apply from the next stream."""
        pinned_changed = settings.room_id != self.settings.room_id
        self.settings = settings
        self.pub.settings = settings
        if self._processor is not None:
            self._processor.topics = decoded_topics(settings)
        if pinned_changed:
            self.reconnect()

    def reconnect(self) -> None:
        """Drop the current attempt/connection and start over now (back-off skipped,
        a rate limit's retry_at still honoured)."""
        self._resume_at = 0.0
        self._interrupt()

    def set_watching(self, on: bool) -> None:
        if on == self._watching:
            return
        self._watching = on
        self._resume_at = 0.0
        self._interrupt()

    def simulate(self, messages: Sequence[tuple[str, bytes]]) -> list[Event]:
        """Feed synthetic inner messages through a StreamProcessor like real ones.

        A processor of its own: simulated input never collides with the real stream's
        de-duplication, and events it releases later (like windows) stay flagged.
        """
        room_id = self.pub.state.room_id or self.settings.room_id or 0
        proc = self._sim_processor
        if proc is None or proc.room_id != room_id:
            proc = self._sim_processor = self._new_processor(room_id)
        events: list[Event] = []
        for method, payload in messages:
            events.extend(proc.feed_message(method, payload, self._clock.monotonic()))
        self._publish(events, simulated=True)
        self._tick_wake.set()  # a like window may have opened without any event yet
        return events

    async def run(self) -> None:
        """Until cancelled. Owns the tick task."""
        ticker = asyncio.create_task(self._tick_loop(), name=f"tick-{self.user}")
        try:
            await self._sleep(self._start_delay_s)  # staggered cold start
            while True:
                await self._run_once()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await self._cancel_cycle()

    # ---------------------------------------------------------------- main loop

    async def _run_once(self) -> None:
        if not self._watching:
            self._pause()
            await self._wait_wake()
            return
        self._cycle_task = asyncio.create_task(self._cycle(), name=f"cycle-{self.user}")
        try:
            await asyncio.wait({self._cycle_task})
        finally:
            await self._cancel_cycle()
        task, self._cycle_task = self._cycle_task, None
        if task.cancelled():
            return  # interrupted by reconnect / watch switch: loop again at once
        exc = task.exception()
        if exc is not None:
            self._on_error(exc)

    async def _cancel_cycle(self) -> None:
        task = self._cycle_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _interrupt(self) -> None:
        self._wake.set()
        if self._cycle_task is not None and not self._cycle_task.done():
            self._cycle_task.cancel()

    async def _cycle(self) -> None:
        await self._sleep_until(self._not_before)
        if self._confirm_live:
            self._confirm_live = False
            found = await self._find_live_room()
            if found is not None:  # still live: the back-off protects the reconnect
                await self._sleep_until(self._resume_at)
        else:
            await self._sleep_until(self._resume_at)
            found = await self._find_live_room()
        if found is None:
            self._on_not_live()
            return
        try:
            await self._watch(*found)
        except _StreamEnded as end:
            self._end_stream(end.reason, announced=end.announced)
            self._set_status("waiting_for_live")
            self._resume_at = self._clock.monotonic() + self._poll_delay()

    async def _find_live_room(self) -> tuple[int, str | None] | None:
        """(room id, title if known) of the live stream, or None when not live."""
        try:
            found = await self._look_up()
        except errors.UserNotFound as exc:
            self._not_found_streak += 1
            needed = self.sup.not_found_confirmations
            if self._seen_user and self._not_found_streak < needed:
                # TikTok says user_not_found for live accounts now and then (docs/protocol.md §7).
                raise UnconfirmedNotFound(
                    f"{exc} (unconfirmed, {self._not_found_streak} of {needed})"
                ) from None
            raise
        self._seen_user = True
        self._not_found_streak = 0
        return found

    async def _look_up(self) -> tuple[int, str | None] | None:
        try:
            if self.settings.room_id is not None:
                room_id = self.settings.room_id
                live = await self.client.check_live(room_id, user=self.user)
                return (room_id, None) if live else None
            status = await self.client.resolve(self.user)
        except errors.UserOffline:
            return None
        if not status.live or not status.room_id:
            return None
        return status.room_id, status.title

    def _on_not_live(self) -> None:
        if self.pub.state.live:
            # Connection was lost and the live check now says offline: that is the end.
            self._end_stream("offline")
        self._backoff.reset()  # the API answers: nothing is failing
        self._set_status("waiting_for_live")
        self._resume_at = self._clock.monotonic() + self._poll_delay()

    # ---------------------------------------------------------------- one connection

    async def _watch(self, room_id: int, title: str | None) -> None:
        # Before anything is asked of TikTok or published (room info, stream_started).
        self._check_lease()
        self._count_connect_attempt()
        if self._processor is None or self._processor.room_id != room_id:
            await self._start_stream(room_id, title)
        processor = self._processor
        assert processor is not None
        self._set_status("connecting")
        self.stats.connects += 1
        self._check_lease()  # the room info calls above took time
        async with self.client.open_push(room_id, user=self.user) as session:
            self._connected_at = self._last_activity = self._clock.monotonic()
            self._last_msg_at = None
            log.info("%s: connected to the live stream (room %s)", self.user, room_id)
            self._set_status("connected")
            try:
                await self._consume(session, processor, room_id)
            finally:
                self._note_disconnect(session)

    async def _start_stream(self, room_id: int, title: str | None) -> None:
        if self.pub.state.live:
            self._end_stream("new_room")  # a new room id means the previous stream is over
        info = await self._room_info(room_id)
        if info is not None:
            title = info.title or title
        self._processor = self._new_processor(room_id, await self._gift_catalogue(room_id))
        # Live messages whose events nobody uses are not even parsed; `simulate` requests
        # (their own processor) still decode everything they are given.
        self._processor.topics = decoded_topics(self.settings)
        # A cluster handover: the previous owner announced this stream already (its room id
        # is among the recent ids, bridge/cluster/dedupe.py), so automations do not see it
        # start twice.
        resumed = False
        if self._lease is not None:
            recent = await self._lease.recent_ids()
            self._processor.remember(recent)
            resumed = room_id in recent
        self._tick_wake.set()
        self.pub.stream_started(
            room_id,
            title,
            viewers=info.user_count if info else 0,
            likes=info.like_count if info else 0,
            resumed=resumed,
        )
        if not resumed:
            now_ms = int(time.time() * 1000)
            started = StreamEvent(msg_id=0, room_id=room_id, create_time_ms=now_ms, kind="started")
            self._publish([started], simulated=False)

    async def _room_info(self, room_id: int) -> RoomInfo | None:
        # Best effort: age-restricted rooms refuse room info but still stream
        # (docs/protocol.md §3.6).
        try:
            return await self.client.room_info(room_id)
        except errors.RateLimited:
            raise
        except errors.TikTokError as exc:
            log.info("%s: no room info (%s)", self.user, exc.status)
            return None

    async def _gift_catalogue(self, room_id: int) -> dict[int, GiftInfo]:
        """The room's gifts (signed through the sign server when there is one), for gift
        messages that lack details; {} when TikTok will not give them (docs/protocol.md §3.7)."""
        catalogue = await self.client.gift_catalogue(room_id)
        return {
            gift_id: GiftInfo(
                id=gift_id,
                name=g.name,
                diamonds_each=g.diamond_count,
                type=g.type,
                image_url=g.image_url,
            )
            for gift_id, g in catalogue.items()
        }

    async def _consume(
        self, session: PushSession, processor: StreamProcessor, room_id: int
    ) -> None:
        # The silence watchdog runs beside the reader so a quiet socket is re-checked; both
        # end by raising, and a stream end reported by the watchdog wins a tie.
        await first_completed(self._silence_watch(room_id), self._read(session, processor))

    async def _read(self, session: PushSession, processor: StreamProcessor) -> None:
        if session.initial is not None:
            self._handle(processor.feed(session.initial, self._clock.monotonic()))
        async for result in session:
            self._last_msg_at = self._clock.monotonic()
            self._handle(processor.feed(result, self._last_msg_at))
            # recv() returns buffered frames without suspending, so under load this loop
            # never gave the event loop back: the sink's writer starved, its queue overflowed
            # and delivery fell far below what the daemon could carry. One turn per frame
            # (5-20 messages) lets the writer publish what this frame produced.
            await asyncio.sleep(0)
        raise errors.ConnectionLost("push session ended")

    def _handle(self, events: Sequence[Event]) -> None:
        if events:
            self._last_activity = self._clock.monotonic()
        self._publish(events, simulated=False)
        for event in events:
            if isinstance(event, StreamEvent) and event.kind == "ended":
                raise _StreamEnded(event.reason or "ended", announced=True)

    async def _silence_watch(self, room_id: int) -> None:
        """No event for ``silent_check_s``: ask TikTok whether the room is still live.

        Not live: the stream ended without a control message. Live, but not a single ``msg``
        frame in that time (only keepalives, or nothing at all): a zombie connection, so
        reconnect. A quiet room still gets ``msg`` frames (viewer counts), so quiet chat
        alone never causes a reconnect (docs/protocol.md §5.7).
        """
        limit = self.sup.silent_check_s
        while True:
            quiet = self._clock.monotonic() - self._last_activity
            await self._clock.sleep(max(min(1.0, limit), limit - quiet))
            quiet = self._clock.monotonic() - self._last_activity
            if quiet < limit:
                continue
            log.info("%s: no event for %.0f s, re-checking live", self.user, quiet)
            if not await self.client.check_live(room_id, user=self.user):
                raise _StreamEnded("offline")
            last_msg = self._last_msg_at or self._connected_at or 0.0
            if self._clock.monotonic() - last_msg >= limit:
                raise errors.SilentSocket(f"no message for {quiet:.0f} s, though the room is live")
            self._last_activity = self._clock.monotonic()

    def _count_connect_attempt(self) -> None:
        """Record one connection attempt; ReconnectCapped when the hourly cap is reached."""
        now = self._clock.monotonic()
        attempts = self._connect_attempts
        while attempts and attempts[0] <= now - CAP_WINDOW_S:
            attempts.popleft()
        cap = self.sup.max_reconnects_per_hour
        if len(attempts) >= cap:
            raise ReconnectCapped(
                f"{len(attempts)} connection attempts in the last hour (cap {cap})"
            )
        attempts.append(now)

    def _note_disconnect(self, session: PushSession) -> None:
        self.stats.decode_errors += session.stats.bad_frames
        if self._connected_at is not None:
            if self._clock.monotonic() - self._connected_at >= self.sup.healthy_after_s:
                self._backoff.reset()
            self._connected_at = None

    # ---------------------------------------------------------------- transitions

    def _end_stream(self, reason: str, *, announced: bool = False) -> None:
        """Live OFF. ``announced``: TikTok's control message already gave the stream event;
        otherwise (live check, pause, new room) the bridge publishes one itself."""
        processor, self._processor = self._processor, None
        if self.pub.state.live:
            log.info("%s: stream ended (%s)", self.user, reason)
        if reason not in ("paused", "new_room"):
            self._ended_polls_left = self.sup.ended_polls  # a quick restart is likely
        if processor is not None:
            self.stats.decode_errors += processor.stats.bad
            self.stats.duplicates += processor.stats.duplicates
            # Close open like windows / streaks: their events belong to this stream.
            self._publish(processor.flush(), simulated=False)
        room_id = self.pub.state.room_id
        if not announced and self.pub.state.live and room_id:
            now_ms = int(time.time() * 1000)
            ended = StreamEvent(
                msg_id=0, room_id=room_id, create_time_ms=now_ms, kind="ended", reason=reason
            )
            self._publish([ended], simulated=False)
        self.pub.stream_ended(reason)

    def _pause(self) -> None:
        if self.pub.state.live:
            self._end_stream("paused")
        self._set_status("paused")

    def _on_error(self, exc: BaseException) -> None:
        now = self._clock.monotonic()
        if isinstance(exc, errors.ConnectionLost):
            self.stats.reconnects += 1
            self._confirm_live = self.pub.state.live
        if isinstance(exc, errors.SilentSocket):
            self.stats.silent_sockets += 1
        if isinstance(exc, errors.RateLimited):
            self._on_rate_limit(exc, now)
            return
        if isinstance(exc, errors.TikTokError):
            status, delay = exc.status, self._error_delay(exc)
            if isinstance(exc, errors.UserNotFound) and self.pub.state.live:
                self._end_stream("not_found")  # confirmed: the account (and stream) is gone
            log.warning("%s: %s (%s); retry in %.0f s", self.user, status, exc, delay)
        else:
            status, delay = "error", self._backoff.next_delay()
            log.error("%s: unexpected error; retry in %.0f s", self.user, delay, exc_info=exc)
        self._resume_at = now + delay
        self._set_status(status, reason=errors.describe(exc), retry_in=delay)

    def _error_delay(self, exc: errors.TikTokError) -> float:
        if isinstance(exc, errors.Blocked):
            # Retrying a block soon deepens TikTok's IP scoring: minutes, not seconds
            # (docs/protocol.md §7).
            return jittered(self.sup.blocked_backoff_s, self.sup.live_poll_jitter, self._rng)
        return self._backoff.next_delay() if exc.transient else self.sup.backoff_max_s

    def _on_rate_limit(self, exc: errors.RateLimited, now: float) -> None:
        delay = self._backoff.next_delay()
        wall = time.time()
        retry_at = exc.retry_at if exc.retry_at is not None else wall + delay
        delay = max(delay, retry_at - wall)
        self._not_before = now + delay
        if self._on_rate_limited is not None:
            self._on_rate_limited(retry_at)
        log.warning("%s: rate limited; retry in %.0f s", self.user, delay)
        self._set_status("rate_limited", retry_at=retry_at, reason=exc.reason, retry_in=delay)

    # ---------------------------------------------------------------- helpers

    def _new_processor(
        self, room_id: int, gifts: dict[int, GiftInfo] | None = None
    ) -> StreamProcessor:
        s = self.settings
        return StreamProcessor(
            room_id,
            like_window_s=s.like_window_s,
            gift_streak_timeout_s=s.gift_streak_timeout_s,
            gift_progress=s.gift_progress,
            gifts=gifts,
        )

    def _leased(self) -> bool:
        """False once this instance's cluster lease on the streamer ended: the next owner
        publishes from now on (always True on a single instance)."""
        return self._lease is None or self._lease.valid()

    def _check_lease(self) -> None:
        if not self._leased():
            raise errors.ConnectionLost("no cluster lease for this streamer")

    def _set_status(
        self,
        status: str,
        *,
        retry_at: float | None = None,
        reason: str | None = None,
        retry_in: float | None = None,
    ) -> None:
        if self._leased():  # retained: an old owner's would overwrite the new owner's
            self.pub.set_status(status, retry_at=retry_at, reason=reason, retry_in=retry_in)

    def _publish(self, events: Sequence[Event], *, simulated: bool) -> None:
        if not events:
            return
        if self._lease is not None:
            if not self._lease.valid():
                return  # the lease ended: the next owner publishes from now on
            if not simulated:  # fake ids must not pass through the cross-instance dedupe
                self._lease.published(events)
        self.stats.events += len(events)
        self.pub.publish_events(events, simulated=simulated)
        self._tick_wake.set()  # the state JSON is now dirty: a tick publishes it

    def _tick_needed(self) -> bool:
        """Whether anything waits on time: a stream (its like windows and streaks, even
        between reconnects), simulated windows, or a throttled state JSON."""
        sim = self._sim_processor
        return (
            self._processor is not None
            or (sim is not None and sim.pending)
            or self.pub.state_pending
        )

    async def _tick_loop(self) -> None:
        while True:
            if not self._tick_needed():
                # Waiting for live, nothing to release: sleep until woken instead of
                # ticking (50 idle streamers woke the loop 200 times a second for nothing).
                self._tick_wake.clear()
                await self._tick_wake.wait()
            await self._clock.sleep(TICK_S)
            now = self._clock.monotonic()
            try:
                self._tick(now)
            except Exception:
                log.exception("%s: tick failed", self.user)

    def _tick(self, now: float) -> None:
        if self._processor is not None:
            events = self._processor.tick(now)
            self._publish(events, simulated=False)
            if events:
                self._last_activity = now
        if self._sim_processor is not None:
            self._publish(self._sim_processor.tick(now), simulated=True)
        self.pub.flush()

    def _poll_delay(self) -> float:
        interval = self.sup.live_poll_interval_s
        if self._ended_polls_left > 0:  # bounded burst right after a stream end
            self._ended_polls_left -= 1
            interval = min(interval, self.sup.ended_poll_interval_s)
        return jittered(interval, self.sup.live_poll_jitter, self._rng)

    async def _sleep_until(self, deadline: float) -> None:
        await self._sleep(deadline - self._clock.monotonic())

    async def _sleep(self, delay: float) -> None:
        if delay > 0:
            await self._clock.sleep(delay)

    async def _wait_wake(self) -> None:
        self._wake.clear()
        await self._wake.wait()
