"""Protobuf messages → events, one builder per WebCast method.

Builders are pure: they read a parsed message plus the common envelope (msg_id, room_id,
and ``ts``, the create_time_ms) and return one event. Gift streaks, like windows and de-duplication
happen later, in the processor. Every string goes through ``_text`` because the generated
classes return ``bytes`` for strings with invalid UTF-8 (viewer-controlled text), and
``as_text`` decodes those with replacement characters instead of dropping the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Protocol, TypeVar

from google.protobuf.message import DecodeError, Message

from bridge.events.model import (
    CONTROL_ACTIONS,
    SCENE_FAN_CLUB,
    SCENE_GIFTER_LEVEL,
    SCENE_MODERATOR,
    SCENE_NEW_SUBSCRIBER,
    SCENE_SUBSCRIBER,
    BattleCard,
    BattleEvent,
    BattleTeam,
    ChatEvent,
    DeleteEvent,
    Emote,
    EmoteEvent,
    EnvelopeEvent,
    Event,
    FollowEvent,
    GiftEvent,
    GiftInfo,
    IntroEvent,
    LazyTuple,
    LikeEvent,
    MemberEvent,
    PinEvent,
    QuestionEvent,
    RankEntry,
    RankEvent,
    ShareEvent,
    StreamEvent,
    SubscribeEvent,
    SuperFanEvent,
    TopViewer,
    UnknownEvent,
    User,
    ViewersEvent,
    lazy_user,
)
from bridge.tiktok.frames import MESSAGE_TYPES, PURE_PYTHON, parser
from bridge.tiktok.frames import as_text as _text
from bridge.tiktok.pb import webcast_pb2 as pb
from bridge.tiktok.pb import webcast_view_pb2 as pv

# (message, msg_id, room_id, create_time_ms): the envelope as arguments, not a dict to
# unpack with ** (a dict per message and its unpacking were ~0.17 µs of ~9 µs, issue 16).
Builder = Callable[[Any, int, int, int], Event]
T = TypeVar("T")

BUSINESS_TYPE_SUPER_FAN = 19
# Text keys of super-fan messages (barrages since 2025-10; "ttlive_superfanbox" envelopes).
SUPER_FAN_KEY = "ttlive_superfan"
_SHARE_JOINED = re.compile(r"_viewer_(\d+)_share")
_BATTLE_RESULTS = {0: "win", 1: "lose", 2: "draw"}


def _opt_text(value: str | bytes) -> str | None:
    return _text(value) or None


def _first_url(image: pb.Image | pv.Image) -> str | None:
    return _text(image.url_list[0]) if image.url_list else None


def _level(badge: pb.BadgeStruct | pv.BadgeStruct) -> int:
    level = _text(badge.privilege_log_extra.level)
    return int(level) if level.isdigit() else 0


# ---------------------------------------------------------------------------------- users


def build_user(
    u: pb.User | pv.User, identity: pb.UserIdentity | pv.UserIdentity | None = None
) -> User:
    """A User from its protobuf; ``identity`` (chat/gift user_identity) adds anchor relations."""
    return _make_user(User, u, identity)


def _fill_user(
    user: User, u: pb.User | pv.User, identity: pb.UserIdentity | pv.UserIdentity | None
) -> None:
    """LazyUser's fill: every field of ``user`` from its protobuf, when first read."""
    _make_user(partial(User.__init__, user), u, identity)


def _make_user(
    make: Callable[..., T],
    u: pb.User | pv.User,
    identity: pb.UserIdentity | pv.UserIdentity | None,
) -> T:
    """``make(**fields)`` with the fields of a User read from its protobuf.

    upb makes a new wrapper object on every sub-message access, so each sub-message is read
    once into a local, the badge loop is skipped for the ~80 % of users without badges, and
    the fans club (almost never set) is only entered when present.
    """
    moderator = subscriber = False
    gifter_level = 0
    fan_level = u.fans_club.data.level if u.HasField("fans_club") else 0
    badges = u.badge_list
    if badges:
        for badge in badges:
            scene = badge.scene_type
            if scene == SCENE_MODERATOR:
                moderator = True
            elif scene in (SCENE_SUBSCRIBER, SCENE_NEW_SUBSCRIBER):
                subscriber = True
            elif scene == SCENE_GIFTER_LEVEL:
                gifter_level = max(gifter_level, _level(badge))
            elif scene == SCENE_FAN_CLUB:
                fan_level = max(fan_level, _level(badge))
    follow_role = u.follow_info.follow_status
    follower = u.is_follower or follow_role >= 1
    friend = follow_role >= 2
    subscriber = subscriber or u.is_subscribe
    if identity is not None:
        moderator = moderator or identity.is_moderator_of_anchor
        subscriber = subscriber or identity.is_subscriber_of_anchor
        follower = follower or identity.is_follower_of_anchor
        friend = friend or identity.is_mutual_following_with_anchor
    urls = u.avatar_thumb.url_list
    handle = u.display_id
    nickname = u.nickname
    return make(
        id=u.id,
        # str is the normal case; bytes only for invalid UTF-8 (see the module docstring).
        unique_id=_text(handle),
        nickname=_text(nickname),
        avatar_url=_text(urls[0]) if urls else None,
        is_moderator=moderator,
        is_subscriber=subscriber,
        is_follower=follower or friend,
        is_friend=friend,
        follow_role=follow_role,
        gifter_level=gifter_level,
        fan_club_level=fan_level,
        verified=u.verified,
    )


def _user_of(
    msg: Any, field: str = "user", identity: pb.UserIdentity | pv.UserIdentity | None = None
) -> User | None:
    """The user in ``field`` when the message carries one, else None (``msg``: a protobuf
    message, full or view, or a wire.py view).

    Lazy (model.LazyUser): only its id is read now, the rest when the event is serialised
    or a field is read. Most messages carry a user and building it was the largest cost
    of decoding; many are never read (merged likes, gift streak steps, filtered topics).
    """
    if not msg.HasField(field):
        return None
    user: pb.User | pv.User = getattr(msg, field)
    return lazy_user(user.id, (_fill_user, user, identity))


def _identity(msg: pv.ChatMessage | pv.GiftMessage) -> pv.UserIdentity | None:
    return msg.user_identity if msg.HasField("user_identity") else None


# ---------------------------------------------------------------------------------- builders


def chat(m: pv.ChatMessage, msg_id: int, room_id: int, ts: int) -> Event:
    listed = m.emotes
    # Most comments have no emote: no generator for an empty list (per chat message).
    emotes = (
        tuple(
            Emote(
                id=_text(e.emote.emote_id),
                index=e.index,
                image_url=_first_url(e.emote.image),
            )
            for e in listed
        )
        if listed
        else ()
    )
    return ChatEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        user=_user_of(m, "user", _identity(m)),
        text=_text(m.content),
        emotes=emotes,
        language=_opt_text(m.content_language),
        mention=_user_of(m, "at_user"),
    )


def gift(m: pv.GiftMessage, msg_id: int, room_id: int, ts: int) -> Event:
    g = m.gift
    info = GiftInfo(
        id=g.id or m.gift_id,
        name=_text(g.name),
        diamonds_each=g.diamond_count,
        type=g.type,
        image_url=_first_url(g.image),
    )
    return GiftEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        user=_user_of(m, "user", _identity(m)),
        gift=info,
        count=max(m.repeat_count, 1),
        final=m.repeat_end == 1,
        group_id=m.group_id,
        to_user=_user_of(m, "to_user"),
    )


def like(m: pv.LikeMessage, msg_id: int, room_id: int, ts: int) -> Event:
    return LikeEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        user=_user_of(m),
        count=m.count,
        total=m.total,
    )


def member(m: pv.MemberMessage, msg_id: int, room_id: int, ts: int) -> Event:
    return MemberEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        user=_user_of(m),
        action=m.action,
        member_count=m.member_count,
    )


def social(m: pv.SocialMessage, msg_id: int, room_id: int, ts: int) -> Event:
    """Follow or share: the display-text key decides, the action number is the fallback."""
    key = _text(m.common.display_text.key)
    user = _user_of(m)
    is_follow = "follow" in key or ("share" not in key and m.action == 1)
    if is_follow:
        return FollowEvent(
            msg_id=msg_id,
            room_id=room_id,
            create_time_ms=ts,
            user=user,
            follow_count=m.follow_count,
        )
    if "share" in key or 2 <= m.action <= 5:
        joined = _SHARE_JOINED.search(key)
        return ShareEvent(
            msg_id=msg_id,
            room_id=room_id,
            create_time_ms=ts,
            user=user,
            share_type=m.share_type,
            target=_opt_text(m.share_target),
            joined=int(joined.group(1)) if joined else None,
        )
    return UnknownEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        user=user,
        method="WebcastSocialMessage",
        size=m.ByteSize(),
    )


def _top_viewers(ranks: Iterable[bytes]) -> tuple[TopViewer, ...]:
    top = []
    for data in ranks:
        try:
            c: pv.Contributor = _CONTRIBUTOR.FromString(data)
        except DecodeError:
            continue  # one malformed entry costs that entry, not the viewer count
        # Built eagerly: the LazyTuple already defers them to serialisation.
        user = build_user(c.user) if c.HasField("user") else None
        top.append(TopViewer(user=user, score=c.score, rank=c.rank))
    return tuple(top)


def viewers(m: pv.RoomUserSeqMessage, msg_id: int, room_id: int, ts: int) -> Event:
    # Top viewers are parsed and built only if the event is serialised (LazyTuple): viewer
    # counts go out as retained state, so most of these ~16 users per message were never
    # read (the view keeps them as bytes, proto/webcast_view.proto).
    ranks = m.ranks
    top = LazyTuple(lambda: _top_viewers(ranks))
    return ViewersEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        current=m.total,
        total=m.total_user,
        top_viewers=top,
    )


def control(m: pv.ControlMessage, msg_id: int, room_id: int, ts: int) -> Event:
    kind, reason = CONTROL_ACTIONS.get(m.action, ("other", None))
    return StreamEvent(
        msg_id=msg_id, room_id=room_id, create_time_ms=ts, kind=kind, action=m.action, reason=reason
    )


def subscribe(m: pb.SubNotifyMessage, msg_id: int, room_id: int, ts: int) -> Event:
    return SubscribeEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        user=_user_of(m),
        months=max(m.sub_month, 0),
        subscribe_type=m.subscribe_type,
        sub_event=m.message_type,
    )


def question(m: pb.QuestionNewMessage, msg_id: int, room_id: int, ts: int) -> Event:
    q = m.data
    return QuestionEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        user=_user_of(q),
        question_id=q.question_id,
        text=_text(q.content),
    )


def emote_chat(m: pb.EmoteChatMessage, msg_id: int, room_id: int, ts: int) -> Event:
    # The bare EmoteModel list has no index: the position in the list stands in for it.
    emotes = tuple(
        Emote(id=_text(e.emote_id), index=i, image_url=_first_url(e.image))
        for i, e in enumerate(m.emote_list)
    )
    return EmoteEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        user=_user_of(m, "user", m.user_identity),
        emotes=emotes,
    )


def envelope(m: pb.EnvelopeMessage, msg_id: int, room_id: int, ts: int) -> Event:
    info = m.envelope_info
    sender_id = _text(info.send_user_id)
    sender_name = _text(info.send_user_name)
    sender = None
    if sender_id or sender_name:
        # The box names its sender only by id string and nickname.
        sender = User(id=int(sender_id) if sender_id.isdigit() else 0, nickname=sender_name)
    return EnvelopeEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        user=sender,
        envelope_id=_text(info.envelope_id),
        diamonds=info.diamond_count,
        people_count=info.people_count,
        unpack_at=info.unpack_at,
        super_fan=info.business_type == BUSINESS_TYPE_SUPER_FAN
        or SUPER_FAN_KEY in _text(m.common.display_text.key),
    )


def _battle_kind(m: pb.LinkMicBattle) -> str:
    status = m.battle_settings.status
    if len(m.battle_result) or status == 2 or m.action in (5, 6):
        return "battle_end"
    if status == 1 or m.action in (4, 7):
        return "battle_start"
    return "battle"


def battle(m: pb.LinkMicBattle, msg_id: int, room_id: int, ts: int) -> Event:
    teams: dict[int, dict[str, Any]] = {}
    for info in m.anchors_info:
        base = info.value.user
        teams[info.key] = {
            "unique_id": _opt_text(base.display_id),
            "nickname": _opt_text(base.nick_name),
        }
    for army in m.armies:
        teams.setdefault(army.key, {})["score"] = army.value.hostscore
    for anchor_id, res in m.battle_result.items():
        team = teams.setdefault(anchor_id, {})
        team["result"] = _BATTLE_RESULTS.get(res.result)
        team.setdefault("score", res.score)
    return BattleEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        kind=_battle_kind(m),
        battle_id=m.battle_id or m.battle_settings.battle_id,
        status=m.battle_settings.status,
        action=m.action,
        teams=tuple(BattleTeam(anchor_id=k, **v) for k, v in teams.items()),
    )


def battle_armies(m: pb.LinkMicArmies, msg_id: int, room_id: int, ts: int) -> Event:
    teams = tuple(
        BattleTeam(
            anchor_id=anchor_id,
            score=armies.hostscore,
        )
        for anchor_id, armies in m.armies.items()
    )
    return BattleEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        kind="battle_score",
        battle_id=m.battle_id or m.battle_settings.battle_id,
        status=m.battle_settings.status,
        teams=teams,
    )


def intro(m: pb.LiveIntroMessage, msg_id: int, room_id: int, ts: int) -> Event:
    return IntroEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        user=_user_of(m),
        text=_text(m.content),
        language=_opt_text(m.content_language),
    )


_PINNED_FIELDS = (
    "chat_message",
    "social_message",
    "gift_message",
    "member_message",
    "like_message",
)


def pin(m: pb.RoomPinMessage, msg_id: int, room_id: int, ts: int) -> Event:
    author = None
    for field in _PINNED_FIELDS:
        if m.HasField(field):  # type: ignore[arg-type]  # names from the tuple above
            author = _user_of(getattr(m, field))
            break
    text = _text(m.chat_message.content) if m.HasField("chat_message") else None
    return PinEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        user=author,
        pinned=m.action != 2,
        pinned_method=_text(m.method),
        text=text,
        operator=_user_of(m, "operator"),
        pin_msg_id=m.pin_msg_id,
    )


def delete(m: pb.ImDeleteMessage, msg_id: int, room_id: int, ts: int) -> Event:
    return DeleteEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        msg_ids=tuple(m.delete_msg_ids),
        user_ids=tuple(m.delete_user_ids),
    )


def rank(m: pb.RankUpdateMessage, msg_id: int, room_id: int, ts: int) -> Event:
    ranks = tuple(
        RankEntry(
            rank_type=u.rank_type,
            rank=u.own_rank,
            text=_opt_text(u.default_content.default_pattern),
        )
        for u in m.updates
    )
    return RankEvent(msg_id=msg_id, room_id=room_id, create_time_ms=ts, ranks=ranks)


# ------------------------------------------------------------- types seen since 2025-10 (§8)

_PLACEHOLDER = re.compile(r"\{(\d+):[a-z_]*\}")


def render(text: pb.Text) -> str | None:
    """TikTok's display text with its ``{n:user}`` / ``{n:string}`` placeholders filled in
    from its pieces (images and unknown kinds become nothing); None when it has none."""
    pattern = _text(text.default_pattern)
    if not pattern:
        return None
    pieces = text.pieces

    def piece(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(pieces):
            return ""
        p = pieces[index]
        if p.HasField("user_value"):
            return _text(p.user_value.user.nickname)
        return _text(p.string_value)

    return " ".join(_PLACEHOLDER.sub(piece, pattern).split()) or None


def _barrage_user(m: pb.BarrageMessage, text: pb.Text) -> User | None:
    for holder in (m, m.user_grade_param, m.fans_level_param):
        if holder.HasField("user"):
            return build_user(holder.user)
    for p in text.pieces:
        if p.HasField("user_value") and p.user_value.HasField("user"):
            return build_user(p.user_value.user)
    return None


def barrage(m: pb.BarrageMessage, msg_id: int, room_id: int, ts: int) -> Event:
    """Super-fan announcements (since 2025-10); every other barrage (level and fan-club
    entrances...) stays ``unknown``, as before."""
    for text in (m.content, m.common_barrage_content):
        key = _text(text.key)
        if SUPER_FAN_KEY in key:
            return SuperFanEvent(
                msg_id=msg_id,
                room_id=room_id,
                create_time_ms=ts,
                user=_barrage_user(m, text),
                key=key,
                text=render(text),
            )
    return UnknownEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        method="WebcastBarrageMessage",
        size=m.ByteSize(),
    )


# LinkMicBattleItemCard.msg_type; cards TikTok adds later are named by their number.
_CARD_KINDS = {
    1: "obtain_guide",
    2: "critical_strike",
    3: "smoke",
    4: "award",
    5: "extra_time",
    6: "special_effect",
    7: "potion",
    8: "wave",
    9: "special_effect_notice",
    10: "top2",
    11: "top3",
    12: "vault_glove",
}
_CARD_USES = (
    ("use_critical_strike_card", "critical_strike"),
    ("use_smoke_card", "smoke"),
    ("use_extra_time_card", "extra_time"),
    ("use_special_effect_card", "special_effect"),
    ("use_potion_card", "potion"),
    ("use_wave_card", "wave"),
    ("use_top2_card", "top2"),
    ("use_top3_card", "top3"),
    ("use_vault_glove_card", "vault_glove"),
    ("use_music_card", "music"),
)


def battle_card(m: pb.LinkMicBattleItemCard, msg_id: int, room_id: int, ts: int) -> Event:
    """A battle power-up card (since 2026): a ``battle`` event of kind ``battle_card``."""
    used = next(((f, kind) for f, kind in _CARD_USES if m.HasField(f)), None)  # type: ignore[arg-type]
    kind = _CARD_KINDS.get(m.msg_type) or (used[1] if used else f"card_{m.msg_type}")
    if used is not None:
        use: pb.BattleCardUse = getattr(m, used[0])
        key = _opt_text(use.card_info.card_name_key) or _opt_text(use.display_content.key)
        text = render(use.display_content)
        card = BattleCard(kind=kind, key=key, anchor_id=use.anchor_id or None, text=text)
    else:
        notice = m.award_card_notice.display_content
        card = BattleCard(kind=kind, key=_opt_text(notice.key), text=render(notice))
    return BattleEvent(
        msg_id=msg_id,
        room_id=room_id,
        create_time_ms=ts,
        kind="battle_card",
        battle_id=m.battle_id,
        card=card,
    )


# The builder of each wire method. The message class comes from the codec's table
# (frames.MESSAGE_TYPES), so the method -> class mapping exists in one place only.
BUILDERS: dict[str, Builder] = {
    "WebcastChatMessage": chat,
    "WebcastGiftMessage": gift,
    "WebcastLikeMessage": like,
    "WebcastMemberMessage": member,
    "WebcastSocialMessage": social,
    "WebcastRoomUserSeqMessage": viewers,
    "WebcastControlMessage": control,
    "WebcastSubNotifyMessage": subscribe,
    "WebcastQuestionNewMessage": question,
    "WebcastEmoteChatMessage": emote_chat,
    "WebcastEnvelopeMessage": envelope,
    "WebcastLinkMicBattle": battle,
    "WebcastLinkMicArmies": battle_armies,
    "WebcastLiveIntroMessage": intro,
    "WebcastRoomPinMessage": pin,
    "WebcastImDeleteMessage": delete,
    "WebcastRankUpdateMessage": rank,
    "WebcastBarrageMessage": barrage,
    "WebcastLinkMicBattleItemCard": battle_card,
}

# The event topics each method's builder can produce (``Event.topic``; "viewers" for the
# viewer counts). The processor skips, without parsing, the messages none of whose topics
# are wanted (docs/architecture.md "Decoding only what is used"); a method missing here is
# an unmodelled one and can only become an ``unknown`` event.
TOPICS: dict[str, tuple[str, ...]] = {
    "WebcastChatMessage": ("chat",),
    "WebcastGiftMessage": ("gift",),
    "WebcastLikeMessage": ("like",),
    "WebcastMemberMessage": ("member",),
    "WebcastSocialMessage": ("follow", "share", "unknown"),
    "WebcastRoomUserSeqMessage": ("viewers",),
    "WebcastControlMessage": ("stream",),
    "WebcastSubNotifyMessage": ("subscribe",),
    "WebcastQuestionNewMessage": ("question",),
    "WebcastEmoteChatMessage": ("emote",),
    "WebcastEnvelopeMessage": ("envelope",),
    "WebcastLinkMicBattle": ("battle",),
    "WebcastLinkMicArmies": ("battle",),
    "WebcastLiveIntroMessage": ("intro",),
    "WebcastRoomPinMessage": ("pin",),
    "WebcastImDeleteMessage": ("delete",),
    "WebcastRankUpdateMessage": ("rank",),
    "WebcastBarrageMessage": ("super_fan", "unknown"),
    "WebcastLinkMicBattleItemCard": ("battle",),
}
UNKNOWN_TOPICS = ("unknown",)


def wanted_methods(topics: Iterable[str]) -> frozenset[str]:
    """Both spellings of every modelled method whose events include one of ``topics``."""
    want = set(topics)
    return frozenset(
        spelling
        for method, produced in TOPICS.items()
        if want.intersection(produced)
        for spelling in (method, method.removeprefix("Webcast"))
    )


class Decoder(Protocol):
    """What parses a method's payload: a generated protobuf class, or a wire.py reader."""

    def FromString(self, data: bytes, /) -> Any: ...  # protobuf's name


# The busiest methods are parsed into their decode views (proto/webcast_view.proto: only the
# fields their builder reads); the rest with their full class (frames.MESSAGE_TYPES).
VIEWS: dict[str, type[Message]] = {
    "WebcastChatMessage": pv.ChatMessage,
    "WebcastGiftMessage": pv.GiftMessage,
    "WebcastLikeMessage": pv.LikeMessage,
    "WebcastMemberMessage": pv.MemberMessage,
    "WebcastSocialMessage": pv.SocialMessage,
    "WebcastRoomUserSeqMessage": pv.RoomUserSeqMessage,
    "WebcastControlMessage": pv.ControlMessage,
}


def decoders(*, pure_python: bool = PURE_PYTHON) -> dict[str, Decoder]:
    """The parser of every modelled method: its view where there is one, else its full
    class; read by wire.py when protobuf is pure Python (frames.parser)."""
    return {
        method: parser(VIEWS.get(method) or MESSAGE_TYPES[method], pure_python=pure_python)
        for method in BUILDERS
    }


_DECODERS = decoders()
_CONTRIBUTOR: Decoder = parser(pv.Contributor)

# Both spellings of every method (some arrive without "Webcast"), so the per-message
# lookup is a single dict access.
_BY_METHOD: dict[str, tuple[Decoder, Builder]] = {
    spelling: (_DECODERS[method], build)
    for method, build in BUILDERS.items()
    for spelling in (method, method.removeprefix("Webcast"))
}


# lookup(method): the (parser, builder) for a method, with or without the "Webcast" prefix,
# else None. The dict's own get: called for every message, a wrapper function cost a frame.
lookup: Callable[[str], tuple[Decoder, Builder] | None] = _BY_METHOD.get
