"""Typed events from TikTok WebCast messages: model, decoding, gift streaks, likes, dedupe.

No I/O here: the bridge feeds protobuf results in and publishes ``Event.to_dict()`` out.
"""

from __future__ import annotations

from bridge.events.gifts import gift_tier
from bridge.events.model import (
    ALL_EVENT_CLASSES,
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
    LikeEvent,
    MemberEvent,
    PinEvent,
    QuestionEvent,
    RankEntry,
    RankEvent,
    ShareEvent,
    StreamEvent,
    SubscribeEvent,
    TopViewer,
    UnknownEvent,
    User,
    ViewersEvent,
    iso_ts,
)
from bridge.events.processor import ProcessorStats, StreamProcessor

__all__ = [
    "ALL_EVENT_CLASSES",
    "BattleEvent",
    "BattleTeam",
    "ChatEvent",
    "DeleteEvent",
    "Emote",
    "EmoteEvent",
    "EnvelopeEvent",
    "Event",
    "FollowEvent",
    "GiftEvent",
    "GiftInfo",
    "IntroEvent",
    "LikeEvent",
    "MemberEvent",
    "PinEvent",
    "ProcessorStats",
    "QuestionEvent",
    "RankEntry",
    "RankEvent",
    "ShareEvent",
    "StreamEvent",
    "StreamProcessor",
    "SubscribeEvent",
    "TopViewer",
    "UnknownEvent",
    "User",
    "ViewersEvent",
    "gift_tier",
    "iso_ts",
]
