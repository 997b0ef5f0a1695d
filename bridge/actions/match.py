"""Does an event fire a rule's trigger? Pure functions on the typed events.

Input is a typed event (bridge.events) as the streamer publishes it (gift tiers set), or a
`StreamMark`: the bridge's own stream start or end. Nothing here counts likes or viewers:
like and viewer triggers compare the streamer's totals before and after the event (a
`Change`), which the publisher reads from the one StreamerState it keeps. A match returns
the extra template values the rule adds (`arg`, `command`, `milestone`), or None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from bridge.actions.rules import Trigger
from bridge.events.model import (
    ChatEvent,
    Event,
    FollowEvent,
    GiftEvent,
    GiftInfo,
    LikeEvent,
    MemberEvent,
    ShareEvent,
    SubscribeEvent,
    SuperFanEvent,
    User,
    ViewersEvent,
)

Extras = dict[str, Any]


class Change(NamedTuple):
    """The streamer's like total and viewer count before and after one event.

    A NamedTuple: the publisher makes one per like or viewers event, the cheapest kind of
    object to build. The like total is TikTok's room total, never a sum of the per-message
    counts: those stop growing after 10-20 likes of one viewer (docs/events.md).
    """

    likes_before: int = 0
    likes_after: int = 0
    viewers_before: int = 0
    viewers_after: int = 0


NO_CHANGE = Change()


@dataclass(frozen=True, slots=True)
class StreamMark:
    """The bridge's stream start or end, as its `bridge/event` announces it."""

    kind: str  # "stream_started" or "stream_ended"
    data: Mapping[str, Any]  # the bridge event's data: what payload templates may use


Subject = Event | StreamMark


def match(trigger: Trigger, event: Subject, change: Change, fired: set[int]) -> Extras | None:
    """The template extras when `event` fires `trigger`, else None.

    `fired`: like thresholds this streamer's rules reached in this stream (the matcher adds
    to it; the engine empties it when a stream starts).
    """
    if not _user_allowed(trigger, event.user if isinstance(event, Event) else None):
        return None
    handler = _MATCHERS[trigger.type]
    return handler(trigger, event, change, fired)


def _user_allowed(trigger: Trigger, user: User | None) -> bool:
    if not (trigger.moderator_only or trigger.subscriber_only):
        return True
    if user is None:
        return False
    # Both flags: either kind of viewer may (documented in docs/actions.md).
    return (trigger.moderator_only and user.is_moderator) or (
        trigger.subscriber_only and user.is_subscriber
    )


def _gift(t: Trigger, e: Subject, _c: Change, _f: set[int]) -> Extras | None:
    # Progress events (final: false) would fire once per combo step; only the finished gift.
    if not isinstance(e, GiftEvent) or not e.final:
        return None
    if t.gift is not None and not _same_gift(t.gift, e.gift):
        return None
    if t.tier is not None and e.event_type not in (t.tier, f"gift_{t.tier}"):
        return None
    if e.diamonds < t.min_diamonds or e.gift.diamonds_each < t.min_diamonds_each:
        return None
    return {}


def _same_gift(wanted: str, gift: GiftInfo) -> bool:
    return str(gift.id) == wanted or gift.name.casefold() == wanted.casefold()


def _like(t: Trigger, e: Subject, c: Change, fired: set[int]) -> Extras | None:
    if not isinstance(e, LikeEvent):
        return None
    if t.every is not None:
        step = c.likes_after // t.every
        if step > c.likes_before // t.every:
            return {"milestone": step * t.every}
        return None
    # Once per stream (the total only grows): `fired` remembers it until the next start.
    if t.threshold is not None and c.likes_after >= t.threshold and t.threshold not in fired:
        fired.add(t.threshold)
        return {"milestone": t.threshold}
    return None


def _viewers(t: Trigger, e: Subject, c: Change, _f: set[int]) -> Extras | None:
    if not isinstance(e, ViewersEvent) or t.threshold is None:
        return None
    # Upwards crossings only; dropping below and coming back fires again (cooldown limits it).
    if c.viewers_before < t.threshold <= c.viewers_after:
        return {"milestone": t.threshold}
    return None


def _command(t: Trigger, e: Subject, _c: Change, _f: set[int]) -> Extras | None:
    if not isinstance(e, ChatEvent) or t.command is None:
        return None
    words = e.text.split()
    if not words or words[0].casefold() != (t.prefix + t.command).casefold():
        return None
    if t.args is None:
        return {"command": t.command, "arg": ""}
    if len(words) != 2:
        return None
    # The allow-list's own spelling goes into payloads, never the viewer's text.
    for word, value in t.args:
        if word.casefold() == words[1].casefold():
            return {"command": t.command, "arg": value}
    return None


def command_rejected(trigger: Trigger, event: Subject) -> bool:
    """The right command word but an argument outside the allow-list (counted, not fired)."""
    if trigger.type != "command" or trigger.args is None or not isinstance(event, ChatEvent):
        return False
    words = event.text.split()
    if not words or words[0].casefold() != (trigger.prefix + str(trigger.command)).casefold():
        return False
    allowed = {word.casefold() for word, _ in trigger.args}
    return len(words) != 2 or words[1].casefold() not in allowed


Matcher = Callable[[Trigger, Subject, Change, set[int]], Extras | None]


def _kind(cls: type[Event], event_type: str | None = None) -> Matcher:
    """Every event of one class (and, for members, one event_type)."""

    def matcher(_t: Trigger, e: Subject, _c: Change, _f: set[int]) -> Extras | None:
        if not isinstance(e, cls):
            return None
        if event_type is not None and e.event_type != event_type:
            return None
        return {}

    return matcher


def _mark(kind: str) -> Matcher:
    def matcher(_t: Trigger, e: Subject, _c: Change, _f: set[int]) -> Extras | None:
        return {} if isinstance(e, StreamMark) and e.kind == kind else None

    return matcher


_MATCHERS: dict[str, Matcher] = {
    "gift": _gift,
    "like": _like,
    "follow": _kind(FollowEvent),
    "share": _kind(ShareEvent),
    "subscribe": _kind(SubscribeEvent),
    "super_fan": _kind(SuperFanEvent),
    "join": _kind(MemberEvent, "join"),
    "command": _command,
    "stream_started": _mark("stream_started"),
    "stream_ended": _mark("stream_ended"),
    "viewers": _viewers,
}


def template_values(streamer: str, event: Subject) -> dict[str, Any]:
    """What payload templates look values up in: the event's published JSON object.

    Built only when a rule fires (a viewers event's ranked users cost ~100 µs to build).
    """
    if isinstance(event, StreamMark):
        return {"type": event.kind, **event.data}
    values = event.to_dict()
    values["streamer"] = streamer
    return values


def trigger_summary(event: Subject) -> dict[str, Any]:
    """`trigger_event` of an action report."""
    if isinstance(event, StreamMark):
        return {"type": event.kind, "event_type": None}
    return {"type": event.topic, "event_type": event.event_type, "msg_id": str(event.msg_id)}
