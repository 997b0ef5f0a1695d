"""Builders for real WebCast inner messages, as TikTok would send them.

Every builder returns ``(method, payload)``: the ``InnerMessage.method`` string and the
serialized event protobuf, ready for ``SimRoom.push(...)``. Payloads carry a realistic
``common`` (method, a fresh msg_id > 2^53, room_id, create_time in ms, the display_text
keys seen in real captures) and users with ids > 2^53, handle (display_id), nickname, avatar.

``room_id`` defaults to 0 = "the room it is pushed into": ``SimRoom.push`` fills it in.

    push(chat("ann", "hello 👋"), *gift_streak("bob", "Rose", 5), like("cem", 15, 1200))
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from google.protobuf.message import Message

from bridge.sim import gifts as catalogue
from bridge.sim.ids import new_group_id, new_msg_id, now_ms, user_id_for
from bridge.tiktok.pb import webcast_pb2 as pb

Built = tuple[str, bytes]
UserLike = str | pb.User

CHAT = "WebcastChatMessage"
GIFT = "WebcastGiftMessage"
LIKE = "WebcastLikeMessage"
MEMBER = "WebcastMemberMessage"
SOCIAL = "WebcastSocialMessage"
ROOM_USER_SEQ = "WebcastRoomUserSeqMessage"
CONTROL = "WebcastControlMessage"
SUB_NOTIFY = "WebcastSubNotifyMessage"
EMOTE_CHAT = "WebcastEmoteChatMessage"
ENVELOPE = "WebcastEnvelopeMessage"
QUESTION = "WebcastQuestionNewMessage"
BATTLE = "WebcastLinkMicBattle"
ARMIES = "WebcastLinkMicArmies"
INTRO = "WebcastLiveIntroMessage"
PIN = "WebcastRoomPinMessage"
IM_DELETE = "WebcastImDeleteMessage"

# Control actions (docs/protocol.md §5.8).
PAUSED, UNPAUSED, ENDED, SUSPENDED = 1, 2, 3, 4

_AVATAR = "https://p16-sign-va.tiktokcdn.com/tos-maliva-avt-0068/sim_{uid}~c5_100x100.webp"


# ------------------------------------------------------------------ users and common


def viewer(
    unique_id: str,
    nickname: str | None = None,
    *,
    user_id: int | None = None,
    follower: bool = False,
    moderator: bool = False,
    subscriber: bool = False,
) -> pb.User:
    """A viewer with a stable id derived from the handle (same handle → same id)."""
    uid = user_id if user_id is not None else user_id_for(unique_id)
    user = pb.User(id=uid, id_str=str(uid), display_id=unique_id, nickname=nickname or unique_id)
    user.sec_uid = f"MS4wLjABAAAA{uid:x}sim"
    user.avatar_thumb.url_list.append(_AVATAR.format(uid=uid))
    user.avatar_thumb.uri = f"100x100/tos-maliva-avt-0068/sim_{uid}"
    user.follow_info.follow_status = 1 if follower else 0
    user.is_follower = follower
    user.is_subscribe = subscriber
    if moderator:
        user.badge_list.add(scene_type=1)
    if subscriber:
        user.badge_list.add(scene_type=4)
    return user


def as_user(user: UserLike) -> pb.User:
    return viewer(user) if isinstance(user, str) else user


def _common(method: str, room_id: int, key: str = "", pattern: str = "") -> pb.Common:
    common = pb.Common(method=method, msg_id=new_msg_id(), room_id=room_id, create_time=now_ms())
    if key:
        common.display_text.key = key
        common.display_text.default_pattern = pattern
    common.is_show_msg = True
    return common


def _out(method: str, message: object) -> Built:
    assert hasattr(message, "SerializeToString")
    return method, message.SerializeToString()


# ------------------------------------------------------------------ chat-like


def chat(
    user: UserLike,
    text: str = "",
    *,
    emotes: Sequence[str] = (),
    language: str = "en",
    room_id: int = 0,
) -> Built:
    """A comment. ``text=""`` with emotes gives an emote-only chat (no content field, as real)."""
    msg = pb.ChatMessage(common=_common(CHAT, room_id), user=as_user(user), content=text)
    msg.content_language = language
    for index, emote_id in enumerate(emotes):
        item = msg.emotes.add(index=len(text) + index)
        item.emote.emote_id = emote_id
        item.emote.image.url_list.append(f"https://p16-webcast.tiktokcdn.com/sim_emote_{emote_id}")
    return _out(CHAT, msg)


def emote(user: UserLike, emote_id: str, *, room_id: int = 0) -> Built:
    msg = pb.EmoteChatMessage(common=_common(EMOTE_CHAT, room_id), user=as_user(user))
    item = msg.emote_list.add(emote_id=emote_id)
    item.image.url_list.append(f"https://p16-webcast.tiktokcdn.com/sim_emote_{emote_id}")
    return _out(EMOTE_CHAT, msg)


def question(user: UserLike, text: str, *, room_id: int = 0) -> Built:
    msg = pb.QuestionNewMessage(common=_common(QUESTION, room_id))
    msg.data.question_id = new_msg_id()
    msg.data.content = text
    msg.data.create_time = now_ms() // 1000
    msg.data.user.CopyFrom(as_user(user))
    return _out(QUESTION, msg)


def intro(text: str, *, owner: UserLike | None = None, room_id: int = 0) -> Built:
    msg = pb.LiveIntroMessage(common=_common(INTRO, room_id), id=new_msg_id(), content=text)
    if owner is not None:
        msg.user.CopyFrom(as_user(owner))
    return _out(INTRO, msg)


def pin(user: UserLike, text: str, *, action: int = 1, room_id: int = 0) -> Built:
    """The host pins a chat message (action 1 pin, 2 unpin)."""
    _, chat_payload = chat(user, text, room_id=room_id)
    msg = pb.RoomPinMessage(common=_common(PIN, room_id), method=CHAT, action=action)
    msg.chat_message.ParseFromString(chat_payload)
    msg.pin_time = now_ms()
    msg.pin_msg_id = msg.chat_message.common.msg_id
    msg.display_duration = 60
    return _out(PIN, msg)


def im_delete(
    msg_ids: Iterable[int] = (), user_ids: Iterable[int] = (), *, room_id: int = 0
) -> Built:
    msg = pb.ImDeleteMessage(common=_common(IM_DELETE, room_id))
    msg.delete_msg_ids.extend(msg_ids)
    msg.delete_user_ids.extend(user_ids)
    return _out(IM_DELETE, msg)


# ------------------------------------------------------------------ gifts


def gift(
    user: UserLike,
    gift_id: int | str | catalogue.SimGift = 5655,
    name: str | None = None,
    diamonds: int | None = None,
    type: int | None = None,
    *,
    repeat_count: int = 1,
    repeat_end: int = 0,
    group_id: int | None = None,
    to_user: UserLike | None = None,
    room_id: int = 0,
) -> Built:
    """One GiftMessage. Catalogue gifts fill name/diamonds/type; unknown ids need them given."""
    known = _known_gift(gift_id)
    gid = known.id if known else int(gift_id)  # type: ignore[arg-type]
    struct = pb.GiftStruct(
        id=gid,
        name=name or (known.name if known else f"Gift {gid}"),
        diamond_count=diamonds if diamonds is not None else (known.diamond_count if known else 1),
        type=type if type is not None else (known.type if known else 1),
    )
    struct.combo = struct.type == 1
    struct.image.url_list.append(known.image_url if known else f"https://sim.invalid/gift_{gid}")
    common = _common(
        GIFT, room_id, "webcast_aweme_gift_send_message", "{0:user} sent {1:gift} {2:string}"
    )
    msg = pb.GiftMessage(common=common, gift_id=gid, gift=struct, user=as_user(user))
    msg.repeat_count = repeat_count
    msg.combo_count = repeat_count
    msg.group_count = 1
    msg.repeat_end = repeat_end
    msg.group_id = group_id if group_id is not None else new_group_id()
    msg.fan_ticket_count = struct.diamond_count * repeat_count
    if to_user is not None:
        msg.to_user.CopyFrom(as_user(to_user))
    return _out(GIFT, msg)


def _known_gift(gift_id: int | str | catalogue.SimGift) -> catalogue.SimGift | None:
    try:
        return catalogue.lookup(gift_id)
    except KeyError:
        if isinstance(gift_id, str) and not gift_id.isdigit():
            raise
        return None


def gift_streak(
    user: UserLike,
    gift_ref: int | str | catalogue.SimGift,
    count: int,
    *,
    step: int = 1,
    group_id: int | None = None,
    to_user: UserLike | None = None,
    room_id: int = 0,
) -> list[Built]:
    """A streak as TikTok sends it: repeat_end=0 with a growing repeat_count, then a final
    repeat_end=1 repeating the last count. Non-streakable gifts (type != 1) come once, no final."""
    known = catalogue.lookup(gift_ref)
    gid = group_id if group_id is not None else new_group_id()
    if known.type != 1:
        return [
            gift(user, known, repeat_count=count, group_id=gid, to_user=to_user, room_id=room_id)
        ]
    counts = [*range(step, count, step), count]
    out = [
        gift(user, known, repeat_count=n, group_id=gid, to_user=to_user, room_id=room_id)
        for n in counts
    ]
    out.append(
        gift(
            user,
            known,
            repeat_count=count,
            repeat_end=1,
            group_id=gid,
            to_user=to_user,
            room_id=room_id,
        )
    )
    return out


def envelope(
    user: UserLike,
    diamonds: int,
    people: int = 10,
    *,
    business_type: int = 0,
    room_id: int = 0,
) -> Built:
    """A treasure box (business_type 19 = super-fan box)."""
    sender = as_user(user)
    msg = pb.EnvelopeMessage(common=_common(ENVELOPE, room_id), display=1)
    info = msg.envelope_info
    info.envelope_id = str(new_msg_id())
    info.business_type = business_type
    info.send_user_name = sender.nickname
    info.send_user_id = str(sender.id)
    info.diamond_count = diamonds
    info.people_count = people
    info.unpack_at = now_ms() // 1000 + 180
    info.room_id = str(room_id)
    return _out(ENVELOPE, msg)


# ------------------------------------------------------------------ audience


def like(user: UserLike, count: int, total: int, *, room_id: int = 0) -> Built:
    """A like batch: ``count`` ≤ 15 per message (as real), ``total`` = room total."""
    common = _common(LIKE, room_id, "pm_mt_msg_viewer", "{0:user} liked the LIVE")
    return _out(LIKE, pb.LikeMessage(common=common, count=count, total=total, user=as_user(user)))


def member(user: UserLike, member_count: int = 0, *, action: int = 1, room_id: int = 0) -> Built:
    """A member event; action 1 = joined."""
    u = as_user(user)
    common = _common(MEMBER, room_id, "live_room_enter_toast", "{0:user} joined")
    msg = pb.MemberMessage(common=common, user=u, member_count=member_count, action=action)
    msg.user_id = u.id
    return _out(MEMBER, msg)


join = member


def follow(user: UserLike, follow_count: int = 0, *, room_id: int = 0) -> Built:
    common = _common(
        SOCIAL, room_id, "pm_main_follow_message_viewer_2", "{0:user} followed the LIVE creator"
    )
    msg = pb.SocialMessage(common=common, user=as_user(user), action=1, follow_count=follow_count)
    return _out(SOCIAL, msg)


def share(user: UserLike, *, joined: int | None = None, room_id: int = 0) -> Built:
    """A share (action 3). ``joined`` gives the pm_mt_guidance_viewer_<N>_share form."""
    key = f"pm_mt_guidance_viewer_{joined}_share" if joined else "pm_mt_guidance_share"
    common = _common(SOCIAL, room_id, key, "{0:user} shared the LIVE")
    msg = pb.SocialMessage(common=common, user=as_user(user), action=3, share_type=1)
    return _out(SOCIAL, msg)


def viewers(
    current: int, total: int, *, top: Sequence[tuple[UserLike, int]] = (), room_id: int = 0
) -> Built:
    """RoomUserSeq: field 3 = current viewers, field 7 = cumulative; ``top`` = (user, coins)."""
    msg = pb.RoomUserSeqMessage(common=_common(ROOM_USER_SEQ, room_id), total=current)
    msg.total_user = total
    msg.popularity = current * 7
    for rank, (user, score) in enumerate(top, start=1):
        msg.ranks.add(score=score, rank=rank, user=as_user(user))
    return _out(ROOM_USER_SEQ, msg)


def subscribe(user: UserLike, months: int = 1, *, room_id: int = 0) -> Built:
    msg = pb.SubNotifyMessage(common=_common(SUB_NOTIFY, room_id), user=as_user(user))
    msg.sub_month = months
    msg.subscribe_type = 1
    return _out(SUB_NOTIFY, msg)


# ------------------------------------------------------------------ battles


def battle_start(
    battle_id: int,
    anchors: Sequence[UserLike],
    *,
    duration_s: int = 300,
    room_id: int = 0,
) -> Built:
    msg = pb.LinkMicBattle(common=_common(BATTLE, room_id), battle_id=battle_id, action=4)
    settings = msg.battle_settings
    settings.battle_id = battle_id
    settings.start_time_ms = now_ms()
    settings.duration = duration_s
    settings.status = 1
    settings.end_time_ms = settings.start_time_ms + duration_s * 1000
    for anchor in anchors:
        user = as_user(anchor)
        info = msg.anchors_info.add(key=user.id).value.user
        info.user_id = user.id
        info.nick_name = user.nickname
        info.display_id = user.display_id
    return _out(BATTLE, msg)


def battle_score(battle_id: int, scores: Mapping[int, int], *, room_id: int = 0) -> Built:
    """LinkMicArmies: ``scores`` maps anchor user id → team score."""
    msg = pb.LinkMicArmies(common=_common(ARMIES, room_id), battle_id=battle_id)
    msg.update_battle_score_time = now_ms()
    for anchor_id, score in scores.items():
        armies = msg.armies[anchor_id]
        armies.hostscore = score
        armies.anchor_id_str = str(anchor_id)
    return _out(ARMIES, msg)


def battle_end(battle_id: int, scores: Mapping[int, int], *, room_id: int = 0) -> Built:
    """Battle finished (action 5) with results: highest score wins (0 win, 1 lose, 2 draw)."""
    msg = pb.LinkMicBattle(common=_common(BATTLE, room_id), battle_id=battle_id, action=5)
    msg.battle_settings.battle_id = battle_id
    msg.battle_settings.status = 2
    best = max(scores.values(), default=0)
    winners = [uid for uid, s in scores.items() if s == best]
    for anchor_id, score in scores.items():
        result = 2 if len(winners) > 1 and score == best else (0 if score == best else 1)
        entry = msg.battle_result[anchor_id]
        entry.user_id = anchor_id
        entry.result = result
        entry.score = score
    return _out(BATTLE, msg)


# ------------------------------------------------------------------ room control, raw


def control(action: int, *, room_id: int = 0) -> Built:
    """ControlMessage: 1 paused, 2 unpaused, 3 ended, 4 suspended."""
    return _out(CONTROL, pb.ControlMessage(common=_common(CONTROL, room_id), action=action))


def unknown(method: str, payload: bytes = b"\x0a\x00") -> Built:
    """A message type the client does not know; it must pass through as 'unknown'."""
    return method, payload


# ------------------------------------------------------------------ payload helpers


def common_of(payload: bytes) -> tuple[str, int, int]:
    """(method, msg_id, room_id) from any event payload's field-1 common; zeros if absent.

    Works on payload types the schema does not declare (real captures of 69 types): the
    schema's ``CommonOnly`` reads field 1 and skips every other field as unknown."""
    try:
        common = pb.CommonOnly.FromString(payload).common
    except Exception:  # not protobuf, or field 1 is not a Common
        return "", 0, 0
    method: str | bytes = common.method  # bytes when not UTF-8 (no validation in the schema)
    if isinstance(method, bytes):
        method = method.decode("utf-8", errors="replace")
    return method, common.msg_id, common.room_id


_CLASSES: dict[str, type[Message]] = {
    CHAT: pb.ChatMessage,
    GIFT: pb.GiftMessage,
    LIKE: pb.LikeMessage,
    MEMBER: pb.MemberMessage,
    SOCIAL: pb.SocialMessage,
    ROOM_USER_SEQ: pb.RoomUserSeqMessage,
    CONTROL: pb.ControlMessage,
    SUB_NOTIFY: pb.SubNotifyMessage,
    EMOTE_CHAT: pb.EmoteChatMessage,
    ENVELOPE: pb.EnvelopeMessage,
    QUESTION: pb.QuestionNewMessage,
    BATTLE: pb.LinkMicBattle,
    ARMIES: pb.LinkMicArmies,
    INTRO: pb.LiveIntroMessage,
    PIN: pb.RoomPinMessage,
    IM_DELETE: pb.ImDeleteMessage,
}


def bind_room(method: str, payload: bytes, room_id: int) -> bytes:
    """Set common.room_id where a builder left it 0; other payloads pass unchanged."""
    cls = _CLASSES.get(method)
    if cls is None or not room_id or common_of(payload)[2]:
        return payload
    msg = cls()
    msg.ParseFromString(payload)
    msg.common.room_id = room_id  # type: ignore[attr-defined]
    return msg.SerializeToString()


def real_payloads(path: str | Path, *, methods: Iterable[str] | None = None) -> Iterator[Built]:
    """Real captured payloads (fixtures/real-2023/payloads.jsonl) as (wire method, payload).

    The wire method is the payload's own common.method when present (a few captured type
    names differ from it), else the captured name. Test use only: they hold real handles.
    """
    wanted = set(methods) if methods is not None else None
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if wanted is not None and row["method"] not in wanted:
                continue
            payload = base64.b64decode(row["payload_b64"])
            method = common_of(payload)[0] or row["method"]
            yield method, payload
