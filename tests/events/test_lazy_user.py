"""Users are built lazily (model.LazyUser): only ``id`` at decode time, the rest on first read.

The laziness must be invisible: a lazy user equals, hashes and serialises like the User built
eagerly from the same protobuf (build_user), on every real payload that carries a user.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bridge.events import StreamProcessor, User
from bridge.events.builders import build_user
from bridge.events.model import LazyUser, lazy_user
from bridge.tiktok.pb import webcast_pb2 as pb
from tests.events._support import ROOM, real_payloads

EAGER = User(id=7, unique_id="handle", nickname="Nick", gifter_level=3, is_follower=True)

# Methods whose view carries a ``user`` (field 2) parsed with the full schema class here.
WITH_USER = {
    "WebcastChatMessage": pb.ChatMessage,
    "WebcastGiftMessage": pb.GiftMessage,
    "WebcastLikeMessage": pb.LikeMessage,
    "WebcastMemberMessage": pb.MemberMessage,
    "WebcastSocialMessage": pb.SocialMessage,
}


def _counting() -> tuple[LazyUser, list[int]]:
    calls: list[int] = []

    def fill(user: User, source: User) -> None:
        calls.append(1)
        values = {n: getattr(source, n) for n in User.__dataclass_fields__}
        User.__init__(user, **values)

    return lazy_user(EAGER.id, (fill, EAGER)), calls


def test_id_is_read_without_filling() -> None:
    user, calls = _counting()
    assert user.id == 7
    assert calls == []


def test_first_field_read_fills_once() -> None:
    user, calls = _counting()
    assert user.nickname == "Nick"
    assert (user.unique_id, user.gifter_level, user.is_follower) == ("handle", 3, True)
    assert user.to_dict() == EAGER.to_dict()
    assert calls == [1]


def test_equal_and_hashed_like_the_eager_user() -> None:
    user, _ = _counting()
    assert user == EAGER
    eager = EAGER
    assert eager == user  # the subclass overrides __eq__: Python asks it first
    assert hash(user) == hash(EAGER)
    assert {user, EAGER} == {EAGER}
    assert user != replace(EAGER, nickname="other")
    assert repr(user) == repr(EAGER)


def test_other_attributes_still_raise() -> None:
    user, calls = _counting()
    assert not hasattr(user, "no_such_field")
    assert calls == []


def test_real_payloads_lazy_users_match_eager_ones() -> None:
    checked = 0
    for row in real_payloads():
        cls = WITH_USER.get(row["method"])
        if cls is None:
            continue
        msg: Any = cls.FromString(row["payload"])
        if not msg.HasField("user"):
            continue
        with_identity = row["method"] in ("WebcastChatMessage", "WebcastGiftMessage")
        identity = msg.user_identity if with_identity and msg.HasField("user_identity") else None
        eager = build_user(msg.user, identity)
        processor = StreamProcessor(ROOM, like_window_s=0, gift_streak_timeout_s=0)
        events = processor.feed_message(row["method"], row["payload"], 1000.0)
        events += processor.flush()
        users = [e.user for e in events if e.user is not None]
        assert users, row["method"]
        for user in users:
            assert isinstance(user, LazyUser)
            assert user.to_dict() == eager.to_dict()
            assert user == eager
            checked += 1
    assert checked >= 50


def test_to_dict_fills_once_and_replace_keeps_every_field() -> None:
    user, calls = _counting()
    assert user.to_dict() == EAGER.to_dict()
    assert user.to_dict() == EAGER.to_dict()
    assert calls == [1]
    other, _ = _counting()
    renamed = replace(other, nickname="other")  # a LazyUser with every field, no source
    assert renamed.to_dict() == {**EAGER.to_dict(), "nickname": "other"}
    assert renamed == replace(EAGER, nickname="other")
