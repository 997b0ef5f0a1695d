"""Helpers of the action tests: rules from YAML, a recording sink, typed events."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

from bridge.actions.match import StreamMark
from bridge.actions.rules import ActionsSettings, parse_actions
from bridge.events.model import (
    ALL_EVENT_CLASSES,
    MEMBER_ACTION_JOIN,
    ChatEvent,
    Event,
    GiftEvent,
    GiftInfo,
    LikeEvent,
    User,
)
from bridge.mqtt.payloads import PayloadLike, to_bytes

_ids = itertools.count(7_300_000_000_000_000_001)


def settings(text: str) -> ActionsSettings:
    """An `actions:` mapping in YAML → checked, built settings (fails the test if invalid)."""
    built, problems = parse_actions(yaml.safe_load(text))
    assert problems == [], problems
    assert built is not None
    return built


@dataclass
class Sent:
    topic: str
    payload: bytes
    qos: int | None
    retained: bool
    at: float
    expires: bool = True  # False: kept through a broker outage however long (an "off")

    @property
    def text(self) -> str:
        return self.payload.decode()


@dataclass
class RecordingSink:
    """Stands in for MqttSink: records publishes with their (monotonic) time."""

    sent: list[Sent] = field(default_factory=list)
    subscribed: list[str] = field(default_factory=list)

    def set_state(self, topic: str, payload: PayloadLike | None, *, qos: int = 1) -> None:
        self.sent.append(Sent(topic, to_bytes(payload), qos, True, time.monotonic()))

    def publish_event(
        self,
        topic: str,
        payload: PayloadLike | None,
        *,
        qos: int | None = None,
        expires: bool = True,
    ) -> None:
        self.sent.append(Sent(topic, to_bytes(payload), qos, False, time.monotonic(), expires))

    def subscribe(self, topic_filter: str, *, qos: int = 1) -> None:
        self.subscribed.append(topic_filter)

    def on(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]

    def reports(self) -> list[dict[str, Any]]:
        import json

        return [json.loads(s.payload)["data"] for s in self.on("tiktok/bridge/event")]


ROOM_ID = 7_200_000_000_000_000_001
_EVENT_CLASSES = {cls.topic: cls for cls in ALL_EVENT_CLASSES}


def _envelope() -> dict[str, Any]:
    return {"msg_id": next(_ids), "room_id": ROOM_ID, "create_time_ms": 1_700_000_000_000}


def user(nickname: str = "Viewer", *, moderator: bool = False, subscriber: bool = False) -> User:
    return User(
        id=7_100_000_000_000_000_042,
        unique_id="viewer42",
        nickname=nickname,
        is_moderator=moderator,
        is_subscriber=subscriber,
    )


def gift(
    name: str = "Rose",
    *,
    count: int = 1,
    each: int = 1,
    tier: str = "gift_small",
    nickname: str = "Viewer",
    final: bool = True,
    gift_id: str = "5655",
) -> GiftEvent:
    """A gift as the publisher hands it to the actions: its tier already set."""
    info = GiftInfo(id=int(gift_id), name=name, diamonds_each=each, type=1)
    return GiftEvent(
        **_envelope(), user=user(nickname), gift=info, count=count, final=final, tier=tier
    )


def chat(text: str, **user_flags: Any) -> ChatEvent:
    nickname = user_flags.pop("nickname", "Viewer")
    return ChatEvent(**_envelope(), user=user(nickname, **user_flags), text=text)


def like(count: int, total: int = 0) -> LikeEvent:
    return LikeEvent(**_envelope(), count=count, total=total)


def simple(kind: str, **fields: Any) -> Event | StreamMark:
    """An event of this published `type` (or a bridge stream start/end: a StreamMark)."""
    if kind in ("stream_started", "stream_ended"):
        return StreamMark(kind, {"streamer": "alice", **fields})
    event_type = fields.pop("event_type", kind)
    if kind == "member":
        fields["action"] = MEMBER_ACTION_JOIN if event_type == "join" else 2
    elif kind == "stream":
        fields["kind"] = event_type
    return _EVENT_CLASSES[kind](**_envelope(), **fields)


class Clock:
    """A settable time source for cooldown and cap tests."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
