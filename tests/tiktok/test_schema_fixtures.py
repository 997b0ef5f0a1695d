"""The schema against real 2023 TikTok payloads (fixtures/real-2023, see its README)."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from bridge.tiktok import frames
from bridge.tiktok.frames import FrameError
from bridge.tiktok.pb import webcast_pb2 as pb
from tests.helpers.paths import fixtures_dir

# Captured type names that are not the wire method (fixtures README; checked below).
CAPTURED_METHOD_ALIASES = {"RoomMessage": "SystemMessage"}
# Captured payloads with no `common` at field 1 at all (field 1 is a varint).
NO_COMMON = {"WebcastWeeklyRankRewardMessage"}


@dataclass(frozen=True)
class Line:
    number: int
    method: str
    payload: bytes
    expected: dict[str, str | None] | None


@cache
def lines() -> tuple[Line, ...]:
    path = fixtures_dir() / "real-2023" / "payloads.jsonl"
    out = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(text)
        payload = base64.b64decode(row["payload_b64"])
        out.append(Line(number, row["method"], payload, row["expected"]))
    return tuple(out)


def expected_lines() -> list[Line]:
    return [line for line in lines() if line.expected is not None]


def line_id(line: Line) -> str:
    return f"{line.number}-{line.method}"


# How each `expected` key is read from the decoded message (all compared as strings).
Getter = Callable[[Any], object]


def user_of(message: Any) -> Any:
    return message.user


COMMON_GETTERS: dict[str, Getter] = {
    "method": lambda m: m.common.method,
    "msg_id": lambda m: m.common.msg_id,
    "room_id": lambda m: m.common.room_id,
    "create_time": lambda m: m.common.create_time,
    "dt_key": lambda m: m.common.display_text.key,
    "uid": lambda m: user_of(m).id,
    "nick": lambda m: frames.as_text(user_of(m).nickname),
    "handle": lambda m: user_of(m).display_id,
}

FIELD_GETTERS: dict[str, dict[str, Getter]] = {
    "WebcastChatMessage": {"content": lambda m: frames.as_text(m.content)},
    "WebcastGiftMessage": {
        **{
            key: (lambda k: lambda m: getattr(m, k))(key)
            for key in (
                "gift_id",
                "repeat_count",
                "repeat_end",
                "group_id",
                "combo_count",
                "group_count",
            )
        },
        "g_id": lambda m: m.gift.id,
        "g_name": lambda m: m.gift.name,
        "g_diamonds": lambda m: m.gift.diamond_count,
        "g_type": lambda m: m.gift.type,
    },
    "WebcastLikeMessage": {"count": lambda m: m.count, "total": lambda m: m.total},
    "WebcastMemberMessage": {
        "action": lambda m: m.action,
        "member_count": lambda m: m.member_count,
    },
    "WebcastSocialMessage": {
        "action": lambda m: m.action,
        "share_type": lambda m: m.share_type,
        "follow_count": lambda m: m.follow_count,
    },
    "WebcastRoomUserSeqMessage": {
        "total": lambda m: m.total,
        "total_user": lambda m: m.total_user,
    },
    "WebcastControlMessage": {"action": lambda m: m.action},
}


def as_expected(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, bytes):
        return frames.as_text(value)
    return str(value)


def test_fixture_inventory() -> None:
    assert len(lines()) == 977
    assert len(expected_lines()) == 416
    assert {line.method for line in expected_lines()} == set(FIELD_GETTERS)


@pytest.mark.parametrize("line", expected_lines(), ids=line_id)
def test_expected_values(line: Line) -> None:
    assert line.expected is not None
    cls = frames.MESSAGE_TYPES[line.method]
    message = cls.FromString(line.payload)
    getters = {**COMMON_GETTERS, **FIELD_GETTERS[line.method]}
    if line.method == "WebcastLikeMessage":
        # The Like sender is field 5, not 2.
        assert str(message.user.id) == line.expected["uid"]  # type: ignore[attr-defined]
    unchecked = set(line.expected) - set(getters)
    assert not unchecked, f"no getter for {unchecked}"
    for key, want in line.expected.items():
        got = as_expected(getters[key](message))
        if want is None:
            # Absent on the wire: we read the default.
            assert got in ("", "0"), f"{key}: {got!r} for an absent field"
            continue
        assert got == want, f"{key}: {got!r} != {want!r}"


def walk(message: Message, path: str) -> Iterator[tuple[str, Message]]:
    """Every (sub)message of a decoded message, with a dotted path."""
    yield path, message
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            has_message_values = field.message_type.fields_by_name["value"].message_type
            children = list(value.values()) if has_message_values else []
        elif field.is_repeated:
            children = list(value)
        else:
            children = [value]
        for child in children:
            yield from walk(child, f"{path}.{field.name}")


def clashes(message: Message) -> list[str]:
    """Declared fields that arrived with another wire type (kept as unknown fields): each
    one is a schema type that disagrees with what TikTok actually sends."""
    found = []
    for path, sub in walk(message, type(message).__name__):
        declared = sub.DESCRIPTOR.fields_by_number
        unknowns = UnknownFieldSet(sub)
        for index in range(len(unknowns)):
            unknown = unknowns[index]
            if unknown.field_number in declared:
                name = declared[unknown.field_number].name
                found.append(f"{path}.{name} (wire type {unknown.wire_type})")
    return found


@pytest.mark.parametrize(
    "method", sorted({line.method for line in lines()} & set(frames.MESSAGE_TYPES))
)
def test_declared_fields_match_real_wire_types(method: str) -> None:
    cls = frames.MESSAGE_TYPES[method]
    decoded = 0
    for line in lines():
        if line.method != method:
            continue
        message = cls.FromString(line.payload)
        assert clashes(message) == [], f"line {line.number}"
        assert message.common.msg_id > 0  # type: ignore[attr-defined]
        assert message.common.method == method  # type: ignore[attr-defined]
        decoded += 1
    assert decoded > 0


def test_every_payload_reads_as_common_only() -> None:
    """Unknown methods still give msg_id/room_id/method (for dedupe and `unknown` events)."""
    differs: dict[str, set[str]] = {}
    for line in lines():
        common = pb.CommonOnly.FromString(line.payload)
        if line.method in NO_COMMON:
            assert not common.HasField("common")
            continue
        assert common.common.msg_id > 0, line.number
        # (room_id is absent in a few types: LiveIntro, HourlyRankReward, Marquee.)
        if common.common.method != line.method:
            differs.setdefault(line.method, set()).add(common.common.method)
    assert differs == {k: {v} for k, v in CAPTURED_METHOD_ALIASES.items()}


def test_ids_beyond_2_53_survive() -> None:
    big = [
        line
        for line in expected_lines()
        if int(str(line.expected and line.expected["msg_id"])) > 2**53
    ]
    assert big, "the fixtures should contain ids above 2^53"
    for line in big[:50]:
        message = frames.MESSAGE_TYPES[line.method].FromString(line.payload)
        assert str(message.common.msg_id) == line.expected["msg_id"]  # type: ignore[attr-defined,index]


def test_emote_only_chat_has_emotes_and_no_content() -> None:
    chat = pb.ChatMessage.FromString(single("MessageWebcastChatMessage.bin"))
    assert chat.content == ""
    assert len(chat.emotes) >= 1
    assert all(e.emote.emote_id for e in chat.emotes)


def test_wire_field_order_is_not_ascending_yet_decodes() -> None:
    # Many real payloads do not start with `common` (field 1, tag 0x0a).
    not_first = [line for line in expected_lines() if not line.payload.startswith(b"\x0a")]
    assert not_first
    for line in not_first:
        message = frames.MESSAGE_TYPES[line.method].FromString(line.payload)
        assert str(message.common.msg_id) == line.expected["msg_id"]  # type: ignore[attr-defined,index]


# ---------------------------------------------------------------- single-messages/


def single(name: str) -> bytes:
    text = (fixtures_dir() / "real-2023" / "single-messages" / name).read_bytes()
    return base64.b64decode(text)


@pytest.mark.parametrize(
    ("name", "cls", "method"),
    [
        # LikeMessage.bin is mislabelled in the source project: it is a member join.
        ("LikeMessage.bin", pb.MemberMessage, "WebcastMemberMessage"),
        ("WebcastMemberMessage.bin", pb.MemberMessage, "WebcastMemberMessage"),
        ("MessageWebcastChatMessage.bin", pb.ChatMessage, "WebcastChatMessage"),
        ("MessageWebcastGiftMessage.bin", pb.GiftMessage, "WebcastGiftMessage"),
        ("MessageWebcastSocialMessage.bin", pb.SocialMessage, "WebcastSocialMessage"),
        ("MessageWebcastImDeleteMessage.bin", pb.ImDeleteMessage, "WebcastImDeleteMessage"),
    ],
)
def test_single_messages_decode(name: str, cls: type[Message], method: str) -> None:
    message: Any = cls.FromString(single(name))
    assert message.common.method == method
    assert message.common.msg_id > 2**53
    assert clashes(message) == []


def test_member_join_fixture() -> None:
    member = pb.MemberMessage.FromString(single("LikeMessage.bin"))
    assert member.action == 1
    assert member.common.display_text.key == "live_room_enter_toast"
    assert member.user.id > 0


def test_im_delete_fixture_layout() -> None:
    deleted = pb.ImDeleteMessage.FromString(single("MessageWebcastImDeleteMessage.bin"))
    assert list(deleted.delete_msg_ids) == []
    assert len(deleted.delete_user_ids) == 1
    assert deleted.delete_user_ids[0] > 2**53
    for line in lines():
        if line.method == "WebcastImDeleteMessage":
            message = pb.ImDeleteMessage.FromString(line.payload)
            assert len(message.delete_user_ids) == 1
            assert clashes(message) == []


def test_damaged_websocket_fixture_only_raises_frame_error() -> None:
    # Not base64: raw bytes mangled by a charset conversion (fixtures README).
    data = fixtures_dir() / "real-2023" / "single-messages" / "WebcastWebsocketMessage.bin"
    raw = data.read_bytes()
    with pytest.raises(FrameError):
        frame = frames.decode_frame(raw)
        frames.decode_msg_frame(frame)


def test_unknown_methods_never_raise_except_decode_error() -> None:
    """Decoding any real payload with any of our classes either works or raises
    DecodeError (a class for the wrong method): never anything else."""
    for line in lines()[::7]:
        for cls in frames.MESSAGE_TYPES.values():
            with contextlib.suppress(DecodeError):
                # As the processor parses (protobuf's pure-Python parser would raise
                # UnicodeDecodeError for invalid UTF-8; wire.py reads bytes like upb).
                frames.parser(cls).FromString(line.payload)
