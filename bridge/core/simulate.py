"""``bridge/request/simulate``: request fields → real WebCast inner messages.

The messages are built with ``bridge.sim.messages`` (the same protobuf TikTok sends), so a
simulated gift goes through streak handling, diamond tiers, event filters and the state
totals exactly like a real one. Only the request's values are validated here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bridge.sim import messages as m

Built = tuple[str, bytes]


class SimulateError(ValueError):
    """The request cannot be turned into a message; the text goes into the response."""


def _text(data: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        raise SimulateError(f"'{key}' must be a non-empty string")
    return value


def _int(data: Mapping[str, Any], key: str, default: int, *, minimum: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SimulateError(f"'{key}' must be an integer >= {minimum}")
    return value


def _viewer(data: Mapping[str, Any]) -> str:
    return _text(data, "viewer", "viewer")


def _gift(data: Mapping[str, Any]) -> list[Built]:
    count = _int(data, "count", 1, minimum=1)
    ref = data.get("gift", 5655)
    if not isinstance(ref, int | str) or isinstance(ref, bool):
        raise SimulateError("'gift' must be a gift id or name")
    diamonds = data.get("diamonds")
    if diamonds is None:
        try:
            return m.gift_streak(_viewer(data), ref, count)
        except KeyError:
            raise SimulateError(f"unknown gift {ref!r}: give 'diamonds' too") from None
    if isinstance(diamonds, bool) or not isinstance(diamonds, int) or diamonds < 0:
        raise SimulateError("'diamonds' must be an integer >= 0")
    gift_id = ref if isinstance(ref, int) else 1
    name = ref if isinstance(ref, str) else None
    # A finished streak in one message: repeat_end 1 carries the final count.
    return [m.gift(_viewer(data), gift_id, name, diamonds, 1, repeat_count=count, repeat_end=1)]


def _stream(data: Mapping[str, Any]) -> list[Built]:
    actions = {"paused": m.PAUSED, "resumed": m.UNPAUSED, "ended": m.ENDED}
    kind = _text(data, "kind", "paused")
    if kind not in actions:
        raise SimulateError(f"'kind' must be one of {', '.join(actions)}")
    return [m.control(actions[kind])]


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], list[Built]]] = {
    "chat": lambda d: [m.chat(_viewer(d), _text(d, "text", "hello"))],
    "gift": _gift,
    "like": lambda d: [m.like(_viewer(d), _int(d, "count", 1), _int(d, "total", 0))],
    "member": lambda d: [m.member(_viewer(d), _int(d, "member_count", 0))],
    "follow": lambda d: [m.follow(_viewer(d), _int(d, "follow_count", 0))],
    "share": lambda d: [m.share(_viewer(d))],
    "subscribe": lambda d: [m.subscribe(_viewer(d), _int(d, "months", 1, minimum=1))],
    "question": lambda d: [m.question(_viewer(d), _text(d, "text", "a question?"))],
    "emote": lambda d: [m.emote(_viewer(d), _text(d, "emote_id", "1"))],
    "envelope": lambda d: [m.envelope(_viewer(d), _int(d, "diamonds", 100))],
    "viewers": lambda d: [m.viewers(_int(d, "current", 1), _int(d, "total", 1))],
    "intro": lambda d: [m.intro(_text(d, "text", "welcome"))],
    "pin": lambda d: [m.pin(_viewer(d), _text(d, "text", "pinned"))],
    "battle": lambda d: [m.battle_start(_int(d, "battle_id", 1, minimum=1), ["host", "rival"])],
    "stream": _stream,
}

TYPES: tuple[str, ...] = tuple(_BUILDERS)


def build(event_type: str, data: Mapping[str, Any]) -> list[Built]:
    """Inner messages for one simulated event of ``event_type`` (a topic name)."""
    builder = _BUILDERS.get(event_type)
    if builder is None:
        raise SimulateError(f"unknown type {event_type!r}; one of: {', '.join(TYPES)}")
    return builder(data)
