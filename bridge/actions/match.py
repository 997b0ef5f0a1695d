"""Does an event fire a rule's trigger? Pure functions plus the per-stream counters they need.

Input is the published event dict (`docs/events.md`, with "streamer") or a bridge-level event
dict: {"type": "stream_started" | "stream_ended" | "viewers", ...}. A match returns the extra
template values the rule adds (`arg`, `command`, `milestone`), or None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.actions.rules import Trigger

Extras = dict[str, Any]


@dataclass(slots=True)
class StreamCounters:
    """What like and viewer triggers remember within one stream of one streamer."""

    # The room's like total, monotonic. TikTok's total, never a sum of the per-message
    # counts: those stop growing after 10-20 likes of one viewer (docs/events.md).
    like_total: int = 0
    viewers: int = 0  # last viewer count
    fired_thresholds: set[tuple[str, int]] = field(default_factory=set)

    def reset(self, like_total: int = 0) -> None:
        self.like_total = like_total
        self.viewers = 0
        self.fired_thresholds.clear()


@dataclass(frozen=True, slots=True)
class Observation:
    """An event folded into the counters: the before/after values triggers compare."""

    likes_before: int = 0  # room like total before the event
    likes_after: int = 0  # ... and after it
    viewers_before: int = 0
    viewers_after: int = 0


def observe(counters: StreamCounters, event: Mapping[str, Any]) -> Observation:
    """Update the counters with one event (once per event, before matching any rule)."""
    kind = event.get("type")
    if kind == "stream_started":
        # The stream's likes so far (room info): a restart mid-stream fires no old milestones.
        counters.reset(_int(event.get("likes")))
        return Observation()
    if kind == "like":
        before, total = counters.like_total, _int(event.get("total"))
        # Without a room total (never seen since 2023) the counts are all there is.
        counters.like_total = max(before, total) if total > 0 else before + _int(event.get("count"))
        return Observation(before, counters.like_total)
    if kind == "viewers":
        before = counters.viewers
        counters.viewers = _int(event.get("current"))
        return Observation(viewers_before=before, viewers_after=counters.viewers)
    return Observation()


def match(
    trigger: Trigger,
    event: Mapping[str, Any],
    seen: Observation,
    counters: StreamCounters,
) -> Extras | None:
    """The template extras when `event` fires `trigger`, else None."""
    if not _user_allowed(trigger, event.get("user")):
        return None
    handler = _MATCHERS[trigger.type]
    return handler(trigger, event, seen, counters)


def _user_allowed(trigger: Trigger, user: Any) -> bool:
    if not (trigger.moderator_only or trigger.subscriber_only):
        return True
    if not isinstance(user, Mapping):
        return False
    # Both flags: either kind of viewer may (documented in docs/actions.md).
    return (trigger.moderator_only and user.get("is_moderator") is True) or (
        trigger.subscriber_only and user.get("is_subscriber") is True
    )


def _gift(t: Trigger, e: Mapping[str, Any], _s: Observation, _c: StreamCounters) -> Extras | None:
    # Progress events (final: false) would fire once per combo step; only the finished gift.
    if e.get("type") != "gift" or e.get("final") is False:
        return None
    gift = e.get("gift")
    if not isinstance(gift, Mapping):
        return None
    if t.gift is not None and not _same_gift(t.gift, gift):
        return None
    if t.tier is not None and e.get("event_type") not in (t.tier, f"gift_{t.tier}"):
        return None
    if _int(e.get("diamonds")) < t.min_diamonds:
        return None
    if _int(gift.get("diamonds_each")) < t.min_diamonds_each:
        return None
    return {}


def _same_gift(wanted: str, gift: Mapping[str, Any]) -> bool:
    if str(gift.get("id")) == wanted:
        return True
    name = gift.get("name")
    return isinstance(name, str) and name.casefold() == wanted.casefold()


def _like(t: Trigger, e: Mapping[str, Any], s: Observation, c: StreamCounters) -> Extras | None:
    if e.get("type") != "like":
        return None
    if t.every is not None:
        step = s.likes_after // t.every
        if step > s.likes_before // t.every:
            return {"milestone": step * t.every}
        return None
    if t.threshold is not None and s.likes_after >= t.threshold:
        key = ("likes", t.threshold)
        if key not in c.fired_thresholds:  # once per stream: the total only grows
            c.fired_thresholds.add(key)
            return {"milestone": t.threshold}
    return None


def _viewers(t: Trigger, e: Mapping[str, Any], s: Observation, _c: StreamCounters) -> Extras | None:
    if e.get("type") != "viewers" or t.threshold is None:
        return None
    # Upwards crossings only; dropping below and coming back fires again (cooldown limits it).
    if s.viewers_before < t.threshold <= s.viewers_after:
        return {"milestone": t.threshold}
    return None


def _command(
    t: Trigger, e: Mapping[str, Any], _s: Observation, _c: StreamCounters
) -> Extras | None:
    text = e.get("text")
    if e.get("type") != "chat" or not isinstance(text, str) or t.command is None:
        return None
    words = text.split()
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


def command_rejected(trigger: Trigger, event: Mapping[str, Any]) -> bool:
    """The right command word but an argument outside the allow-list (counted, not fired)."""
    text = event.get("text")
    if trigger.type != "command" or trigger.args is None or not isinstance(text, str):
        return False
    words = text.split()
    if not words or words[0].casefold() != (trigger.prefix + str(trigger.command)).casefold():
        return False
    allowed = {word.casefold() for word, _ in trigger.args}
    return len(words) != 2 or words[1].casefold() not in allowed


Matcher = Callable[[Trigger, Mapping[str, Any], Observation, StreamCounters], Extras | None]


def _plain(kind: str, event_type: str | None = None) -> Matcher:
    def matcher(
        t: Trigger, e: Mapping[str, Any], _s: Observation, _c: StreamCounters
    ) -> Extras | None:
        if e.get("type") != kind:
            return None
        if event_type is not None and e.get("event_type") != event_type:
            return None
        return {}

    return matcher


_MATCHERS: dict[str, Matcher] = {
    "gift": _gift,
    "like": _like,
    "follow": _plain("follow"),
    "share": _plain("share"),
    "subscribe": _plain("subscribe"),
    "super_fan": _plain("super_fan"),
    "join": _plain("member", "join"),
    "command": _command,
    "stream_started": _plain("stream_started"),
    "stream_ended": _plain("stream_ended"),
    "viewers": _viewers,
}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
