"""Settings of one watched streamer: a `streamers:` entry, and a streamer/add request.

Both are checked by the same declaration (StreamerSettings), so a runtime-added streamer
obeys exactly the rules of the configuration file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from bridge.settings.declare import section, setting
from bridge.settings.names import USER_DOC, USER_PATTERN, normalise_user, user_problem
from bridge.settings.problems import Problem
from bridge.settings.schema import Id, MapOf, Number, join

# Event topics a streamer can publish (topic level == event "topic" attribute in bridge.events).
# "viewers" is not an event topic: viewer counts are retained state (<user>/viewers).
EventTopic = Literal[
    "chat", "gift", "like", "member", "follow", "share", "subscribe", "question",
    "emote", "envelope", "battle", "pin", "stream", "intro", "delete", "rank", "unknown",
]  # fmt: skip
ALL_EVENTS: tuple[str, ...] = get_args(EventTopic)
# Joins, deletes, rank updates and unknown messages are busy or rarely wanted: off unless asked for.
DEFAULT_EVENTS: tuple[str, ...] = tuple(
    e for e in ALL_EVENTS if e not in ("member", "delete", "rank", "unknown")
)


@dataclass(frozen=True, slots=True)
class GiftTier:
    name: str  # event_type published, e.g. "gift_small"
    min_diamonds: int  # total diamonds of the (finished) gift >= this


# Per-stream goals, named after the StreamerState counters they follow (bridge.core.goals).
GoalName = Literal["likes", "diamonds", "follows"]
GOALS: tuple[str, ...] = get_args(GoalName)
# A record stream gathers some hundreds of millions of likes; a target is a plain integer.
GOAL_MAX = 10**12
MAX_LEADERBOARD = 50  # top gifters published (the HA sensor's attributes stay small)

DEFAULT_GIFT_TIERS: tuple[GiftTier, ...] = (
    GiftTier("gift_small", 1),
    GiftTier("gift_medium", 100),
    GiftTier("gift_large", 1000),
)


@dataclass(frozen=True, kw_only=True, eq=False)
class TierMap(MapOf):
    """`{small: 1, large: 1000}` in the file; GiftTiers sorted by threshold in the settings."""

    def build(self, value: Any) -> Any:
        tiers = sorted(value.items(), key=lambda item: item[1])
        return tuple(GiftTier(f"gift_{name}", minimum) for name, minimum in tiers)

    def to_document(self, value: Any) -> Any:
        return {t.name.removeprefix("gift_"): t.min_diamonds for t in value}


@section(
    "Sending chat messages from MQTT (`<base_topic>/<user>/chat/send`). Needs "
    "`tiktok.session.session_id` and `tiktok.sign_server.api_key`; the account may be "
    "actioned by TikTok for automated chat.",
    restart=False,
)
class ChatSendSettings:
    enabled: bool = setting(default=False, doc="Allow sending.")
    min_interval_s: float = setting(  # token bucket refill interval
        default=5.0,
        doc="One message per this many seconds on average.",
        minimum=1,
        maximum=3600,
    )
    burst: int = setting(
        default=2, doc="Messages that may be sent back to back.", minimum=1, maximum=20
    )
    max_length: int = setting(
        default=150, doc="Longer messages are refused.", minimum=1, maximum=500
    )


@section(
    "Goals for each stream, 0 = none. Progress is published on `<base_topic>/<user>/goals` "
    "and a `goal` event when one is reached; everything starts over when a new stream "
    "begins. Home Assistant gets a number entity per goal to change it; a target changed "
    "that way (or with `goals/set`) is kept across restarts until this value is edited.",
    restart=False,
)
class GoalSettings:
    likes: int = setting(
        default=0,
        doc="Likes this stream (the room's like total, as `state.likes`).",
        minimum=0,
        maximum=GOAL_MAX,
    )
    diamonds: int = setting(
        default=0,
        doc="Diamonds of finished gifts this stream (as `state.diamonds`).",
        minimum=0,
        maximum=GOAL_MAX,
    )
    follows: int = setting(
        default=0, doc="New follows this stream (as `state.follows`).", minimum=0, maximum=GOAL_MAX
    )

    def targets(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in GOALS}


def _streamer_rules(
    streamer: Mapping[str, Any], path: str, doc: Mapping[str, Any]
) -> Iterator[Problem]:
    tiktok = doc.get("tiktok")
    if isinstance(tiktok, Mapping):
        yield from _chat_send_rules(streamer["chat_send"], join(path, "chat_send"), tiktok)
    yield from _gift_tier_rules(streamer["gift_tiers"], join(path, "gift_tiers"))


def _chat_send_rules(chat: Any, path: str, tiktok: Mapping[str, Any]) -> Iterator[Problem]:
    if not isinstance(chat, Mapping) or chat["enabled"] is not True:
        return
    session, sign = tiktok["session"], tiktok["sign_server"]
    missing = []
    if isinstance(session, Mapping) and session["session_id"] is None:
        missing.append("tiktok.session.session_id (the account that writes)")
    if isinstance(sign, Mapping) and sign["api_key"] is None:
        missing.append("tiktok.sign_server.api_key (TikTok only accepts signed chat requests)")
    if isinstance(sign, Mapping) and sign["send_session"] is not True:
        missing.append("tiktok.sign_server.send_session: true (chat passes the session to it)")
    if tiktok["connection"] == "direct":
        missing.append("tiktok.connection other than direct")
    if missing:
        yield Problem(
            join(path, "enabled"),
            "chat sending needs " + " and ".join(missing) + "; set them or disable chat_send",
        )


def _gift_tier_rules(tiers: Any, path: str) -> Iterator[Problem]:
    if not isinstance(tiers, Mapping):
        return
    by_threshold: dict[int, str] = {}
    for name, minimum in tiers.items():
        if minimum in by_threshold:
            yield Problem(
                join(path, name),
                f"has the same threshold ({minimum}) as tier {by_threshold[minimum]!r}",
            )
        by_threshold.setdefault(minimum, name)


@section(
    "One TikTok account to watch.",
    hints={
        "unique_id": "use 'user'",
        "like_window_s": "use 'like_window_ms' (milliseconds)",
        "enabled": "use 'watch'",
    },
    rules=_streamer_rules,
    restart=False,  # applied in place on reload: the connection is kept
)
class StreamerSettings:
    # TikTok unique id, lower-case, validated; also the topic level
    user: str = setting(
        doc="TikTok user name (`@alice.live`, `alice.live` or a profile URL); lower-cased, "
        "`@` dropped. Used as the topic level: `<base_topic>/<user>/...`.",
        normalize=normalise_user,
        max_length=64,
        pattern=USER_PATTERN,
        pattern_doc=USER_DOC,
        rule=user_problem,
    )
    name: str | None = setting(
        default=None, doc="Display name in Home Assistant; the user name when empty.", max_length=64
    )
    room_id: int | None = setting(
        default=None,
        doc="Pin the room id and skip looking it up (when lookups are blocked). A number or "
        "a string of digits.",
        kind=Id(),
    )
    # Initial watch switch; a persisted watch/set state overrides it.
    watch: bool = setting(
        default=True,
        doc="Watch this streamer at start. The `watch/set` topic switches it at run time "
        "and that choice is kept across restarts.",
    )
    events: tuple[EventTopic, ...] = setting(
        default=DEFAULT_EVENTS,
        doc="Event topics to publish. `member` (joins), `delete`, `rank` and `unknown` are "
        "off by default because they are busy or rarely wanted.",
    )
    gift_tiers: tuple[GiftTier, ...] = setting(
        default=DEFAULT_GIFT_TIERS,
        doc="Diamond thresholds naming the gift `event_type`: a finished gift worth at least "
        "the threshold of tier `large` is published as `gift_large`.",
        kind=TierMap(
            value=Number(doc="Minimum diamonds.", integer=True, minimum=0, maximum=10**9),
            min_items=1,
            max_items=20,
        ),
    )
    gift_progress: bool = setting(
        default=False,
        doc="Also publish the running count of gift streaks (combos) while they happen.",
    )
    gift_streak_timeout_s: float = setting(
        default=10.0,
        doc="Finish a gift streak whose end marker never arrives after this many seconds.",
        minimum=1,
        maximum=300,
    )
    like_window_ms: int = setting(
        default=1000,
        doc="Likes are summed over this window before publishing (0 = every message).",
        minimum=0,
        maximum=60_000,
    )
    chat_send: ChatSendSettings = setting(default_factory=ChatSendSettings)
    goals: GoalSettings = setting(default_factory=GoalSettings)
    leaderboard_size: int = setting(
        default=10,
        doc="Top gifters of the current stream (by diamonds) published on "
        "`<base_topic>/<user>/leaderboard`; 0 = no leaderboard.",
        minimum=0,
        maximum=MAX_LEADERBOARD,
    )

    @property
    def like_window_s(self) -> float:
        return self.like_window_ms / 1000.0
