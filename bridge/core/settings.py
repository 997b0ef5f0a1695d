"""Per-streamer and bridge-core settings; bridge.config builds them from YAML."""

from __future__ import annotations

from dataclasses import dataclass, field

# Event topics a streamer can publish (topic level == event "topic" attribute in bridge.events).
# "viewers" is not an event topic: viewer counts are retained state (<user>/viewers).
# fmt: off
ALL_EVENTS: tuple[str, ...] = (
    "chat", "gift", "like", "member", "follow", "share", "subscribe", "question",
    "emote", "envelope", "battle", "pin", "stream", "intro", "delete", "rank", "unknown",
)
# fmt: on
# Joins, deletes, rank updates and unknown messages are busy or rarely wanted: off unless asked for.
DEFAULT_EVENTS: tuple[str, ...] = tuple(
    e for e in ALL_EVENTS if e not in ("member", "delete", "rank", "unknown")
)


@dataclass(frozen=True, slots=True)
class GiftTier:
    name: str  # event_type published, e.g. "gift_small"
    min_diamonds: int  # total diamonds of the (finished) gift >= this


DEFAULT_GIFT_TIERS: tuple[GiftTier, ...] = (
    GiftTier("gift_small", 1),
    GiftTier("gift_medium", 100),
    GiftTier("gift_large", 1000),
)


@dataclass(frozen=True, slots=True)
class ChatSendSettings:
    enabled: bool = False
    min_interval_s: float = 5.0  # token bucket refill interval
    burst: int = 2
    max_length: int = 150


@dataclass(frozen=True, slots=True)
class StreamerSettings:
    user: str  # TikTok unique id, lower-case, validated; also the topic level
    name: str | None = None  # display name for Home Assistant
    events: tuple[str, ...] = DEFAULT_EVENTS
    gift_tiers: tuple[GiftTier, ...] = DEFAULT_GIFT_TIERS
    gift_progress: bool = False  # also publish streak progress events
    gift_streak_timeout_s: float = 10.0  # finalise a streak whose repeat_end never came
    like_window_s: float = 1.0  # aggregate like messages over this window (0 = each message)
    chat_send: ChatSendSettings = field(default_factory=ChatSendSettings)
    room_id: int | None = None  # pin a room id (skip resolution)
    watch: bool = True  # initial watch switch; a persisted watch/set state overrides it


@dataclass(frozen=True, slots=True)
class SupervisorSettings:
    live_poll_interval_s: float = 60.0  # with jitter
    live_poll_jitter: float = 0.2  # +-20 %
    # Global budget shared by all streamers for TikTok + sign-server calls.
    calls_per_minute: int = 30
    cold_start_stagger_s: float = 2.0
    backoff_initial_s: float = 5.0
    backoff_max_s: float = 300.0
    healthy_after_s: float = 600.0  # back-off resets only after this long connected
    silent_check_s: float = 300.0  # connected but no event for this long => live re-check
    # Streamers often restart within a minute of ending: poll faster for a few rounds.
    ended_poll_interval_s: float = 20.0
    ended_polls: int = 3
    # Blocked (DEVICE_BLOCKED, handshake refused, captcha): retrying soon deepens IP scoring.
    blocked_backoff_s: float = 900.0
    # Connection attempts per streamer and rolling hour; beyond it wait backoff_max_s.
    max_reconnects_per_hour: int = 12
    # "user not found" for an account seen before counts only after this many in a row.
    not_found_confirmations: int = 3
