"""Events and per-streamer state → MQTT topics and payloads (docs/mqtt-api.md).

``StreamerPublisher`` is the only writer of a streamer's topics. Retained topics
(availability, live, viewers, state, watch/state) go through ``sink.set_state`` (latest wins,
re-sent after every reconnect), events through ``sink.publish_event`` (never retained,
dropped when stale). Topics come from ``bridge.mqtt.topics`` and an event's fixed ``topic``
class attribute; nothing from live data ever becomes a topic level.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from bridge.actions.match import Change
from bridge.core.goals import Leaderboard, StreamGoals, totals_of
from bridge.core.state import StreamerState, iso_utc
from bridge.events import (
    Event,
    FollowEvent,
    GiftEvent,
    LikeEvent,
    ShareEvent,
    ViewersEvent,
    gift_tier,
)
from bridge.mqtt.payloads import PayloadLike
from bridge.mqtt.topics import StreamerTopics, TopicError
from bridge.settings.streamer import StreamerSettings

log = logging.getLogger(__name__)

# The retained state JSON changes with every counted event; publish it at most this often
# (status/live changes go out at once) so a busy room does not flood the broker.
STATE_MIN_INTERVAL_S = 1.0
# Errors that get a bridge/event watch_error (the others are routine).
WATCH_ERRORS = frozenset(
    {
        "rate_limited",
        "not_found",
        "age_restricted",
        "blocked",
        "sign_unavailable",
        "auth_expired",
        "reconnect_limited",
    }
)


def _changed(snapshot: dict[str, Any], last: dict[str, Any] | None) -> bool:
    """Whether the state JSON says something new. ``last_event`` alone does not count: every
    chat would re-send the whole snapshot; it is brought up to date by the next change."""
    if last is None:
        return True
    return any(v != last.get(k) for k, v in snapshot.items() if k != "last_event")


class Sink(Protocol):
    """The part of bridge.mqtt.sink.MqttSink used here (lets tests use a recorder)."""

    def set_state(self, topic: str, payload: PayloadLike | None, *, qos: int = 1) -> None: ...

    def publish_event(
        self, topic: str, payload: PayloadLike | None, *, qos: int | None = None
    ) -> None: ...


BridgeEventFn = Callable[[str, dict[str, Any]], None]


class EventHookFn(Protocol):
    """The hook of bridge.actions (ActionEngine.handle): every published event, typed, with
    the change it made to the state's like total and viewer count, and its JSON object
    when one was made for the sink (viewer counts are state: none is made for them)."""

    def __call__(
        self, streamer: str, event: Event, change: Change, payload: dict[str, Any] | None, /
    ) -> None: ...


# StreamGoals.snapshot() whenever it changed (the runtime store keeps it across restarts).
GoalsHookFn = Callable[[dict[str, Any]], None]


def event_payload(event: Event, streamer: str, *, simulated: bool = False) -> dict[str, Any]:
    """``event.to_dict()`` plus the streamer (and the simulated flag)."""
    data = event.to_dict()
    data["streamer"] = streamer
    if simulated:
        data["simulated"] = True
    return data


# Events that change the retained state (counters, viewers, live) or the leaderboard and
# goals: decoded whether or not their topic is published (see _count).
STATE_TOPICS = frozenset({"gift", "like", "follow", "share", "viewers", "stream"})


def decoded_topics(settings: StreamerSettings) -> frozenset[str]:
    """The event topics a streamer's processor must produce: the published ones (the only
    ones actions see, docs/actions.md) and those the state counts. Home Assistant discovery
    only points entities at these topics, so it needs nothing more."""
    return STATE_TOPICS | frozenset(settings.events)


def event_enabled(event: Event, settings: StreamerSettings) -> bool:
    # "gift/progress" is governed by "gift" (and by gift_progress in the processor).
    return event.topic.split("/", 1)[0] in settings.events


class StreamerPublisher:
    def __init__(
        self,
        sink: Sink,
        topics: StreamerTopics,
        settings: StreamerSettings,
        *,
        bridge_event: BridgeEventFn,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_event: EventHookFn | None = None,
        goals: StreamGoals | None = None,
        on_goals: GoalsHookFn | None = None,
    ) -> None:
        self.sink = sink
        self.topics = topics
        self.settings = settings
        self.state = StreamerState()
        self.published = 0  # events sent to the sink
        self.filtered = 0  # events not enabled for this streamer
        self._bridge_event = bridge_event
        # Direct actions (bridge.actions): sees every published event and viewer counts.
        self._on_event = on_event
        self._clock = clock
        self._wall = wall_clock
        # Stream goals and top gifters: derived from self.state, published with it.
        self.goals = goals or StreamGoals(settings.goals.targets())
        self.leaderboard = Leaderboard(settings.leaderboard_size)
        self._on_goals = on_goals
        self._last_goals: dict[str, Any] | None = None
        self._board_version = -1
        self._dirty = False
        self._last_state_at = float("-inf")
        self._last_viewers: int | None = None
        self._last_availability: str | None = None
        self._last_state: dict[str, Any] | None = None

    # ---------------------------------------------------------------- retained state

    def announce(self, *, watching: bool) -> None:
        """Initial retained topics of a (newly) supervised streamer."""
        self.set_watch(watching)
        self._publish_live()
        self._publish_viewers(force=True)
        self._publish_state()
        self._publish_progress(force=True)

    def set_watch(self, on: bool) -> None:
        self.sink.set_state(self.topics.watch_state, "ON" if on else "OFF")

    def set_status(
        self,
        status: str,
        *,
        retry_at: float | None = None,
        reason: str | None = None,
        retry_in: float | None = None,
    ) -> None:
        previous = self.state.status
        self.state.set_status(status, retry_at=retry_at, reason=reason)
        if status in WATCH_ERRORS and (status != previous or retry_at is not None):
            data: dict[str, Any] = {"streamer": self.settings.user, "reason": status}
            if reason:
                data["detail"] = reason
            if retry_in is not None:
                data["retry_after_s"] = round(retry_in)
            if retry_at is not None:
                data["retry_at"] = iso_utc(retry_at)
            self._bridge_event("watch_error", data)
        self._publish_state()

    def stream_started(
        self,
        room_id: int,
        title: str | None,
        *,
        viewers: int = 0,
        likes: int = 0,
        resumed: bool = False,
    ) -> None:
        """``resumed``: taken over from another cluster instance, which announced the start."""
        self.state.start_stream(room_id, title=title, since=time.time())
        self.state.live = True
        self.state.viewers = max(viewers, 0)
        self.state.raise_likes(likes)
        self.goals.start(room_id)
        self.leaderboard.start(room_id)
        self._save_goals()
        if not resumed:
            self._bridge_event(
                "stream_started",
                {
                    "streamer": self.settings.user,
                    "room_id": str(room_id),
                    "title": title,
                    "likes": self.state.likes,  # the room's like total so far (room info)
                },
            )
        self._publish_live()
        self._publish_viewers()
        self._publish_state()
        self._check_goals(None, simulated=False)  # joined late: a goal may be met already

    def stream_ended(self, reason: str) -> None:
        was_live = self.state.live
        self.state.live = False
        self.state.viewers = 0
        if was_live:
            duration = time.time() - self.state.live_since if self.state.live_since else None
            self._bridge_event(
                "stream_ended",
                {
                    "streamer": self.settings.user,
                    "room_id": str(self.state.room_id) if self.state.room_id else None,
                    "reason": reason,
                    "duration_s": round(duration) if duration is not None else None,
                },
            )
        self._publish_live()
        self._publish_viewers()
        self._publish_state()

    def stopped(self) -> None:
        """The streamer is no longer supervised (removed, or bridge shutting down)."""
        # live is left as it was: stopping to watch says nothing about the stream itself,
        # and availability "offline" tells consumers not to trust it.
        self.state.set_status("stopped")
        self._publish_state()

    @property
    def state_pending(self) -> bool:
        """Counters changed since the state JSON went out: ``flush`` will publish it."""
        return self._dirty

    def flush(self) -> None:
        """Publish the state JSON if counters changed and the throttle allows (tick)."""
        if self._dirty and self._clock() - self._last_state_at >= STATE_MIN_INTERVAL_S:
            self._publish_state()

    def _publish_state(self) -> None:
        # Only changes go out: a streamer polled every minute must not re-send its state.
        availability = "online" if self.state.available else "offline"
        if availability != self._last_availability:
            self._last_availability = availability
            self.sink.set_state(self.topics.availability, availability)
        snapshot = self.state.to_dict()
        if _changed(snapshot, self._last_state):
            self._last_state = snapshot
            self.sink.set_state(self.topics.state, snapshot)
        self._publish_progress()
        self._dirty = False
        self._last_state_at = self._clock()

    def _publish_progress(self, *, force: bool = False) -> None:
        """Goals and leaderboard, when they changed (throttled with the state JSON)."""
        goals = self.goals.to_dict(totals_of(self.state))
        if force or goals != self._last_goals:
            self._last_goals = goals
            self.sink.set_state(self.topics.goals, goals)
        board = self.leaderboard
        if board.size > 0 and (force or board.version != self._board_version):
            self._board_version = board.version
            self.sink.set_state(self.topics.leaderboard, board.to_dict())

    def _publish_live(self) -> None:
        self.sink.set_state(self.topics.live, "ON" if self.state.live else "OFF")

    def _publish_viewers(self, *, force: bool = False) -> None:
        if force or self.state.viewers != self._last_viewers:
            self._last_viewers = self.state.viewers
            self.sink.set_state(self.topics.viewers, self.state.viewers)

    # ---------------------------------------------------------------- events

    def publish_events(self, events: Sequence[Event], *, simulated: bool = False) -> None:
        for event in events:
            try:
                self._one(event, simulated)
                self._progress(event, simulated)
            except (TopicError, ValueError, TypeError):
                # One bad event (an unexpected topic, a non-JSON value) must not stop the rest.
                log.exception("%s: cannot publish %s event", self.settings.user, event.topic)

    def _one(self, event: Event, simulated: bool) -> None:
        if isinstance(event, GiftEvent):
            event = event.with_tier(gift_tier(event.diamonds, self.settings.gift_tiers))
        # Like and viewer triggers compare these totals before and after the event.
        likes, viewers = self.state.likes, self.state.viewers
        self._count(event)
        if isinstance(event, ViewersEvent):
            # Viewer counts are state (retained integer + state JSON), not an event topic:
            # no JSON object is made for them (the actions make one only if a rule fires).
            if self._on_event is not None:
                self._on_event(self.settings.user, event, self._change(likes, viewers), None)
            return
        if not event_enabled(event, self.settings):
            self.filtered += 1
            return
        payload = event_payload(event, self.settings.user, simulated=simulated)
        if isinstance(event, GiftEvent) and not event.final:
            self.sink.publish_event(self.topics.gift_progress, payload)
        else:
            self.sink.publish_event(self.topics.event(event.topic), payload)
        self.published += 1
        if self._on_event is not None:
            self._on_event(self.settings.user, event, self._change(likes, viewers), payload)

    def _change(self, likes_before: int, viewers_before: int) -> Change:
        return Change(likes_before, self.state.likes, viewers_before, self.state.viewers)

    # ---------------------------------------------------------------- goals, leaderboard

    def _progress(self, event: Event, simulated: bool) -> None:
        """After the event went out: the leaderboard, and a goal it may have completed."""
        if isinstance(event, GiftEvent) and event.final:
            self.leaderboard.add(event.user, event.diamonds, event.count)
        self._check_goals(event, simulated=simulated)

    def _check_goals(self, event: Event | None, *, simulated: bool) -> None:
        if not self.goals.waiting:
            return
        totals = totals_of(self.state)
        reached = self.goals.check(totals, self._wall())
        if not reached:
            return
        user = event.user if event is not None else None
        for name in reached:
            log.info("%s: %s goal reached", self.settings.user, name)
            payload = self.goals.event(name, totals, user)
            payload["streamer"] = self.settings.user
            if simulated:
                payload["simulated"] = True
            self.sink.publish_event(self.topics.goal_event, payload)
        self._publish_progress()  # at once: 100 % arrives with the event
        self._save_goals()

    def set_goals(self, targets: dict[str, int]) -> None:
        """New targets (the names given); a changed goal may be reached at once."""
        if self.goals.set_targets(targets):
            self._save_goals()
            self._check_goals(None, simulated=False)
            self._publish_progress()

    def reset_goals(self, names: Sequence[str]) -> None:
        self.goals.reset(names, totals_of(self.state))
        self._save_goals()
        self._publish_progress()

    def reset_leaderboard(self) -> None:
        self.leaderboard.start(self.leaderboard.room_id)
        self._publish_progress()

    def resize_leaderboard(self, size: int) -> None:
        if size == self.leaderboard.size:
            return
        self.leaderboard.resize(size)
        if size == 0:
            self.sink.set_state(self.topics.leaderboard, None)  # no board: none retained
        self._publish_progress()

    def _save_goals(self) -> None:
        if self._on_goals is not None:
            self._on_goals(self.goals.snapshot())

    def _count(self, event: Event) -> None:
        """Fold the event into the per-stream totals of the retained state."""
        state = self.state
        state.last_event = time.time()
        if isinstance(event, GiftEvent) and event.final:
            state.add_diamonds(event.diamonds)
        elif isinstance(event, LikeEvent):
            # TikTok's room total is authoritative when present; counts only without it.
            if event.total > 0:
                state.raise_likes(event.total)
            else:
                state.add_likes(event.count)
        elif isinstance(event, FollowEvent):
            state.add_follow()
        elif isinstance(event, ShareEvent):
            state.add_share()
        elif isinstance(event, ViewersEvent):
            state.viewers = max(event.current, 0)
            self._publish_viewers()
        self._dirty = True
