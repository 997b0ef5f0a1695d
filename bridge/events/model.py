"""Typed, immutable events and their single published JSON form.

Every event class fixes its MQTT topic level in the ``topic`` ClassVar: topic levels must never
come from live data (nicknames, gift names) because viewers control those strings.

``to_dict`` is on the per-event hot path, so each class builds its dict by hand instead of
going through ``dataclasses.asdict`` (which deep-copies and recurses generically).
64-bit ids (user, room, message, group, battle) are serialised as strings: JavaScript consumers
(Node-RED, HA templates) would silently round them otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any, ClassVar, TypeVar, overload

JsonDict = dict[str, Any]
T = TypeVar("T")

# Badge scene types (BadgeStruct.scene_type) that carry a meaning we publish.
SCENE_MODERATOR = 1
SCENE_SUBSCRIBER = 4
SCENE_NEW_SUBSCRIBER = 7
SCENE_GIFTER_LEVEL = 8
SCENE_FAN_CLUB = 10


# (unix second, its formatted prefix); replaced as one tuple so threads never mix the two.
_last_second: tuple[int, str] = (-(2**63), "")


def iso_ts(ms: int) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z`` suffix (e.g. 2023-10-04T19:19:37.581Z)."""
    secs, frac = divmod(ms, 1000)
    # Per event: a busy room sends many events per second, so the formatted second is
    # kept and reused (time.gmtime + strftime is itself much faster than a datetime).
    global _last_second
    second, prefix = _last_second
    if second != secs:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        _last_second = (secs, prefix)
    return f"{prefix}.{frac:03d}Z"


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A TikTok user as seen in one message (flags are relative to the streamer)."""

    id: int
    unique_id: str = ""  # the @handle (User.display_id, field 38)
    nickname: str = ""
    avatar_url: str | None = None
    is_moderator: bool = False
    is_subscriber: bool = False
    is_follower: bool = False
    is_friend: bool = False
    follow_role: int = 0  # follow_info.follow_status: 0 none, 1 follows, 2 friends (mutual)
    gifter_level: int = 0
    fan_club_level: int = 0
    verified: bool = False

    def to_dict(self) -> JsonDict:
        return {
            "id": str(self.id),
            "unique_id": self.unique_id,
            "nickname": self.nickname,
            "avatar_url": self.avatar_url,
            "is_moderator": self.is_moderator,
            "is_subscriber": self.is_subscriber,
            "is_follower": self.is_follower,
            "is_friend": self.is_friend,
            "follow_role": self.follow_role,
            "gifter_level": self.gifter_level,
            "fan_club_level": self.fan_club_level,
            "verified": self.verified,
        }


# Every field but ``id``, in declaration order: what a LazyUser fills in on first use.
_USER_FIELDS = tuple(f.name for f in fields(User))
_LAZY_FIELDS = frozenset(_USER_FIELDS) - {"id"}


class LazyUser(User):
    """A User whose fields other than ``id`` are read from its protobuf on first use.

    Most messages carry a user, and building one from the parsed message was about 3 µs,
    the largest cost of decoding (bench/RESULTS.md, issue 16); many are never read: like
    messages merged into one window event, gift streak steps, events no rule or topic
    wants. ``id`` is set at once (like windows and gift streaks key on it); the first read
    of any other field calls ``fill(self, *args)`` (``source`` is ``(fill, *args)``), which
    must set every field (through ``User.__init__``), then the source is dropped. Equal to,
    and hashed like, the User it stands for, so events compare as if built eagerly (compare
    LazyTuple).
    """

    __slots__ = ("_source",)

    _source: tuple[Any, ...] | None

    def __getattr__(self, name: str) -> Any:
        # Only called when a slot is unset: a field not filled in yet (or not a field).
        if name not in _LAZY_FIELDS or not self._fill_in():
            raise AttributeError(name)
        return getattr(self, name)

    def _fill_in(self) -> bool:
        """Fill every field from the source, once; False when there was nothing to fill."""
        try:
            source = self._source
        except AttributeError:  # made by dataclasses.replace: every field, no source
            return False
        if source is None:
            return False
        _set_source(self, None)  # also drops the hold on the protobuf message
        source[0](self, *source[1:])
        return True

    def to_dict(self) -> JsonDict:
        # Published events serialise their user: fill in first, so the reads below do not
        # each go through a failed slot lookup and __getattr__.
        self._fill_in()
        return User.to_dict(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, User):
            return NotImplemented
        return _values(self) == _values(other)

    def __hash__(self) -> int:
        return hash(_values(self))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in _USER_FIELDS)
        return f"User({inner})"


_new_object = object.__new__
# Slot setters: a frozen dataclass refuses plain assignment, and object.__setattr__ per
# field is what makes an eager User cost ~1 µs; the slot descriptors set them directly.
_set_id: Callable[[User, int], None] = vars(User)["id"].__set__
_set_source: Callable[[LazyUser, tuple[Any, ...] | None], None] = vars(LazyUser)["_source"].__set__


def lazy_user(user_id: int, source: tuple[Any, ...]) -> LazyUser:
    """A LazyUser with ``id`` set; ``source`` is ``(fill, *args)``: ``fill(user, *args)``
    sets the rest when a field is first read."""
    user: LazyUser = _new_object(LazyUser)
    _set_id(user, user_id)
    _set_source(user, source)
    return user


def _values(user: User) -> tuple[Any, ...]:
    return tuple(getattr(user, n) for n in _USER_FIELDS)


def _user(u: User | None) -> JsonDict | None:
    return None if u is None else u.to_dict()


class LazyTuple(Sequence[T]):
    """A tuple whose items are made on first use, then kept (immutable like a tuple).

    For parts of an event that are often never read: a viewer-count message carries ~16
    ranked users, but viewer counts are only published as state, so building those users
    for every message (about 8 µs each) was the largest single cost of decoding.
    """

    __slots__ = ("_items", "_make")

    def __init__(self, make: Callable[[], tuple[T, ...]]) -> None:
        self._make: Callable[[], tuple[T, ...]] | None = make
        self._items: tuple[T, ...] = ()

    def _get(self) -> tuple[T, ...]:
        if self._make is not None:
            self._items = self._make()
            self._make = None  # also drops the closure's hold on the protobuf message
        return self._items

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...
    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[T]:
        return iter(self._get())

    def __eq__(self, other: object) -> bool:
        # Equal to the tuple it stands for, so events compare as if built eagerly.
        if isinstance(other, LazyTuple):
            other = other._get()
        return self._get() == other

    def __hash__(self) -> int:
        return hash(self._get())

    def __repr__(self) -> str:
        return repr(self._get())


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event: common envelope fields."""

    topic: ClassVar[str] = "unknown"

    msg_id: int
    room_id: int
    create_time_ms: int
    user: User | None = None

    @property
    def event_type(self) -> str:
        """The Home Assistant-facing value; equal to the topic unless a subclass refines it."""
        return self.topic

    def to_dict(self) -> JsonDict:
        """The published JSON object (without ``streamer``, which the bridge adds)."""
        d: JsonDict = {
            "type": self.topic,
            "event_type": self.event_type,
            "ts": iso_ts(self.create_time_ms),
            "room_id": str(self.room_id),
            "msg_id": str(self.msg_id),
            "user": None if self.user is None else self.user.to_dict(),
        }
        self._add_fields(d)
        return d

    def _add_fields(self, d: JsonDict) -> None:
        """Type-specific fields; subclasses extend ``d`` in place."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Emote:
    id: str
    index: int  # position in the comment text
    image_url: str | None = None

    def to_dict(self) -> JsonDict:
        return {"id": self.id, "index": self.index, "image_url": self.image_url}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatEvent(Event):
    topic: ClassVar[str] = "chat"
    text: str = ""
    emotes: tuple[Emote, ...] = ()
    language: str | None = None
    mention: User | None = None  # ChatMessage.at_user (reply / @mention)

    @property
    def is_emote_only(self) -> bool:
        return not self.text and bool(self.emotes)

    def _add_fields(self, d: JsonDict) -> None:
        d["text"] = self.text
        d["emotes"] = [e.to_dict() for e in self.emotes]
        d["language"] = self.language
        d["mention"] = _user(self.mention)
        d["is_emote_only"] = self.is_emote_only


@dataclass(frozen=True, slots=True, kw_only=True)
class GiftInfo:
    id: int
    name: str = ""
    diamonds_each: int = 0
    type: int = 0
    image_url: str | None = None

    @property
    def streakable(self) -> bool:
        # Only type-1 gifts repeat in streaks (docs/protocol.md §6.5).
        return self.type == 1

    def to_dict(self) -> JsonDict:
        return {
            "id": str(self.id),
            "name": self.name,
            "diamonds_each": self.diamonds_each,
            "type": self.type,
            "streakable": self.streakable,
            "image_url": self.image_url,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class GiftEvent(Event):
    topic: ClassVar[str] = "gift"
    gift: GiftInfo
    count: int = 1
    final: bool = True
    group_id: int = 0
    to_user: User | None = None  # receiver in multi-guest rooms
    tier: str | None = None  # set by the bridge from the streamer's diamond tiers

    @property
    def diamonds(self) -> int:
        return self.gift.diamonds_each * self.count

    @property
    def event_type(self) -> str:
        return self.tier or "gift"

    def with_tier(self, tier: str) -> GiftEvent:
        return replace(self, tier=tier)

    def _add_fields(self, d: JsonDict) -> None:
        d["gift"] = self.gift.to_dict()
        d["count"] = self.count
        d["diamonds"] = self.diamonds
        d["final"] = self.final
        d["group_id"] = str(self.group_id)
        d["to_user"] = _user(self.to_user)


@dataclass(frozen=True, slots=True, kw_only=True)
class LikeEvent(Event):
    topic: ClassVar[str] = "like"
    count: int = 0  # likes in this message or aggregation window
    total: int = 0  # room total, never going backwards within one stream
    users: int = 1  # distinct likers aggregated (user is null when more than one)

    def _add_fields(self, d: JsonDict) -> None:
        d["count"] = self.count
        d["total"] = self.total
        d["users"] = self.users


MEMBER_ACTION_JOIN = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberEvent(Event):
    topic: ClassVar[str] = "member"
    action: int = MEMBER_ACTION_JOIN
    member_count: int = 0

    @property
    def event_type(self) -> str:
        return "join" if self.action == MEMBER_ACTION_JOIN else "member"

    def _add_fields(self, d: JsonDict) -> None:
        d["action"] = self.action
        d["member_count"] = self.member_count


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowEvent(Event):
    topic: ClassVar[str] = "follow"
    follow_count: int = 0  # the streamer's follower count after this follow

    def _add_fields(self, d: JsonDict) -> None:
        d["follow_count"] = self.follow_count


@dataclass(frozen=True, slots=True, kw_only=True)
class ShareEvent(Event):
    topic: ClassVar[str] = "share"
    share_type: int = 0
    target: str | None = None
    joined: int | None = None  # viewers who came in through shares (key ..._viewer_<N>_share)

    def _add_fields(self, d: JsonDict) -> None:
        d["share_type"] = self.share_type
        d["target"] = self.target
        d["joined"] = self.joined


@dataclass(frozen=True, slots=True, kw_only=True)
class TopViewer:
    user: User | None
    score: int
    rank: int

    def to_dict(self) -> JsonDict:
        return {"user": _user(self.user), "score": self.score, "rank": self.rank}


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewersEvent(Event):
    topic: ClassVar[str] = "viewers"
    current: int = 0  # RoomUserSeqMessage field 3
    total: int = 0  # field 7: cumulative unique viewers of this stream
    # A tuple, or a LazyTuple from the builder: only read when the event is serialised.
    top_viewers: Sequence[TopViewer] = ()

    def _add_fields(self, d: JsonDict) -> None:
        d["current"] = self.current
        d["total"] = self.total
        d["top_viewers"] = [t.to_dict() for t in self.top_viewers]


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeEvent(Event):
    topic: ClassVar[str] = "subscribe"
    months: int = 0
    subscribe_type: int = 0
    sub_event: int = 0  # SubNotify message_type (new, renew, upgrade… as numbers)

    def _add_fields(self, d: JsonDict) -> None:
        d["months"] = self.months
        d["subscribe_type"] = self.subscribe_type
        d["sub_event"] = self.sub_event


@dataclass(frozen=True, slots=True, kw_only=True)
class QuestionEvent(Event):
    topic: ClassVar[str] = "question"
    question_id: int = 0
    text: str = ""

    def _add_fields(self, d: JsonDict) -> None:
        d["question_id"] = str(self.question_id)
        d["text"] = self.text


@dataclass(frozen=True, slots=True, kw_only=True)
class EmoteEvent(Event):
    topic: ClassVar[str] = "emote"
    emotes: tuple[Emote, ...] = ()

    def _add_fields(self, d: JsonDict) -> None:
        d["emotes"] = [e.to_dict() for e in self.emotes]


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvelopeEvent(Event):
    """A treasure box; ``user`` is the sender when the message names one."""

    topic: ClassVar[str] = "envelope"
    envelope_id: str = ""
    diamonds: int = 0
    people_count: int = 0
    unpack_at: int = 0  # unix seconds when the box can be opened
    super_fan: bool = False  # business_type 19 = super-fan box

    def _add_fields(self, d: JsonDict) -> None:
        d["envelope_id"] = self.envelope_id
        d["diamonds"] = self.diamonds
        d["people_count"] = self.people_count
        d["unpack_at"] = self.unpack_at
        d["super_fan"] = self.super_fan


@dataclass(frozen=True, slots=True, kw_only=True)
class BattleTeam:
    anchor_id: int
    unique_id: str | None = None
    nickname: str | None = None
    score: int | None = None
    result: str | None = None  # win / lose / draw once the battle is decided

    def to_dict(self) -> JsonDict:
        return {
            "anchor_id": str(self.anchor_id),
            "unique_id": self.unique_id,
            "nickname": self.nickname,
            "score": self.score,
            "result": self.result,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BattleCard:
    """A power-up card of a battle (WebcastLinkMicBattleItemCard, since 2026)."""

    kind: str  # critical_strike, smoke, extra_time, award... or card_<n> for a new one
    key: str | None = None  # TikTok's text key of the card (e.g. pm_mt_boost_crit_name)
    anchor_id: int | None = None  # the team (host) that used it
    text: str | None = None  # TikTok's display text, placeholders filled in

    def to_dict(self) -> JsonDict:
        return {
            "kind": self.kind,
            "key": self.key,
            "anchor_id": None if self.anchor_id is None else str(self.anchor_id),
            "text": self.text,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BattleEvent(Event):
    topic: ClassVar[str] = "battle"
    # battle_start / battle_end / battle_score / battle_card / battle
    kind: str = "battle_score"
    battle_id: int = 0
    status: int = 0  # BattleSetting.status: 0 not started, 1 started, 2 finished, 3/4 punish
    action: int = 0  # LinkMicBattle.action (1 invite … 5 finish)
    teams: tuple[BattleTeam, ...] = ()
    card: BattleCard | None = None  # battle_card only

    @property
    def event_type(self) -> str:
        return self.kind

    def _add_fields(self, d: JsonDict) -> None:
        d["battle_id"] = str(self.battle_id)
        d["status"] = self.status
        d["action"] = self.action
        d["teams"] = [t.to_dict() for t in self.teams]
        d["card"] = None if self.card is None else self.card.to_dict()


@dataclass(frozen=True, slots=True, kw_only=True)
class IntroEvent(Event):
    topic: ClassVar[str] = "intro"
    text: str = ""
    language: str | None = None

    def _add_fields(self, d: JsonDict) -> None:
        d["text"] = self.text
        d["language"] = self.language


@dataclass(frozen=True, slots=True, kw_only=True)
class PinEvent(Event):
    """A pinned (or unpinned) message; ``user`` is the author of the pinned message."""

    topic: ClassVar[str] = "pin"
    pinned: bool = True
    pinned_method: str = ""
    text: str | None = None
    operator: User | None = None
    pin_msg_id: int = 0

    @property
    def event_type(self) -> str:
        return "pin" if self.pinned else "unpin"

    def _add_fields(self, d: JsonDict) -> None:
        d["pinned_method"] = self.pinned_method
        d["text"] = self.text
        d["operator"] = _user(self.operator)
        d["pin_msg_id"] = str(self.pin_msg_id)


# ControlMessage.action → (event_type, reason). 3 and 4 both end the live (docs/protocol.md §5.8):
# the socket on either; 4 is TikTok suspending the stream (moderation).
CONTROL_ACTIONS: dict[int, tuple[str, str | None]] = {
    1: ("paused", None),
    2: ("resumed", None),
    3: ("ended", "ended"),
    4: ("ended", "moderation"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamEvent(Event):
    """Stream lifecycle. ``kind`` is paused/resumed/ended (from TikTok) or started (bridge)."""

    topic: ClassVar[str] = "stream"
    kind: str = "other"
    action: int = 0  # ControlMessage.action, 0 when not from a control message
    reason: str | None = None  # for ended: "ended" (by the streamer) or "moderation"

    @property
    def event_type(self) -> str:
        return self.kind

    def _add_fields(self, d: JsonDict) -> None:
        d["action"] = self.action
        d["reason"] = self.reason


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteEvent(Event):
    """Moderation removed messages (ImDeleteMessage): hide them in overlays / chat logs."""

    topic: ClassVar[str] = "delete"
    msg_ids: tuple[int, ...] = ()
    user_ids: tuple[int, ...] = ()

    def _add_fields(self, d: JsonDict) -> None:
        d["msg_ids"] = [str(i) for i in self.msg_ids]
        d["user_ids"] = [str(i) for i in self.user_ids]


@dataclass(frozen=True, slots=True, kw_only=True)
class RankEntry:
    rank_type: int
    rank: int
    text: str | None = None

    def to_dict(self) -> JsonDict:
        return {"rank_type": self.rank_type, "rank": self.rank, "text": self.text}


@dataclass(frozen=True, slots=True, kw_only=True)
class RankEvent(Event):
    """The streamer's position in TikTok's rankings (hourly, weekly…)."""

    topic: ClassVar[str] = "rank"
    ranks: tuple[RankEntry, ...] = ()

    def _add_fields(self, d: JsonDict) -> None:
        d["ranks"] = [r.to_dict() for r in self.ranks]


@dataclass(frozen=True, slots=True, kw_only=True)
class SuperFanEvent(Event):
    """A super-fan announcement (a barrage message with a ``ttlive_superfan`` key, since
    2025-10); ``user`` is the super fan. Super-fan boxes are ``envelope`` events."""

    topic: ClassVar[str] = "super_fan"
    key: str = ""  # TikTok's text key, e.g. ttlive_superfan_...: which announcement it is
    text: str | None = None  # TikTok's display text, placeholders filled in

    def _add_fields(self, d: JsonDict) -> None:
        d["key"] = self.key
        d["text"] = self.text


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(Event):
    """A message we do not model, or one that failed to decode; never a crash."""

    topic: ClassVar[str] = "unknown"
    method: str = ""
    size: int = 0
    reason: str = "unhandled"  # "unhandled" (no model for the method) or "decode_error"

    def _add_fields(self, d: JsonDict) -> None:
        d["method"] = self.method
        d["size"] = self.size
        d["reason"] = self.reason


ALL_EVENT_CLASSES: tuple[type[Event], ...] = (
    ChatEvent,
    GiftEvent,
    LikeEvent,
    MemberEvent,
    FollowEvent,
    ShareEvent,
    ViewersEvent,
    SubscribeEvent,
    QuestionEvent,
    EmoteEvent,
    EnvelopeEvent,
    BattleEvent,
    IntroEvent,
    PinEvent,
    StreamEvent,
    DeleteEvent,
    RankEvent,
    SuperFanEvent,
    UnknownEvent,
)


def _slot_init(cls: type) -> Callable[..., None]:
    """The same ``__init__`` as the dataclass's, setting each slot through its descriptor.

    A frozen dataclass sets every field with ``object.__setattr__(self, name, value)``;
    calling the slot's own setter is about half the cost, and an event is built for
    nearly every message (about 0.3 µs of ~1 µs per event, bench/RESULTS.md issue 16).
    Same keyword-only parameters and defaults; the instance stays frozen (plain
    assignment still raises FrozenInstanceError).
    """
    names = [f.name for f in fields(cls)]
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    setters = {name: _slot_setter(cls, name) for name in names}
    params = ", ".join(f"{n}=_d_{n}" if n in defaults else n for n in names)
    body = "\n".join(f"        _s_{n}(self, {n})" for n in names)
    closure = ", ".join([*(f"_s_{n}" for n in names), *(f"_d_{n}" for n in defaults)])
    source = (
        f"def make({closure}):\n    def __init__(self, *, {params}):\n{body}\n    return __init__\n"
    )
    scope: dict[str, Any] = {}
    exec(source, {}, scope)  # generated from field names only, like dataclasses does
    args = {
        **{f"_s_{n}": s for n, s in setters.items()},
        **{f"_d_{n}": d for n, d in defaults.items()},
    }
    init: Callable[..., None] = scope["make"](**args)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The ``__set__`` of the slot ``name`` (declared by ``cls`` or a base class)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            setter: Callable[[Any, Any], None] = vars(klass)[name].__set__
            return setter
    raise AttributeError(name)


for _cls in (*ALL_EVENT_CLASSES, Event, User, GiftInfo, Emote):
    _cls.__init__ = _slot_init(_cls)  # type: ignore[misc]
