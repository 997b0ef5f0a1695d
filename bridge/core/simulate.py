"""``bridge/request/simulate``: checked request fields → real WebCast inner messages.

The fields are declared in bridge.settings.commands (ranges, lengths) and checked by the
router. The messages are built with ``bridge.sim.messages`` (the same protobuf TikTok sends),
so a simulated gift goes through streak handling, diamond tiers, event filters and the state
totals exactly like a real one. What one request builds is bounded: a streak of any count is
at most MAX_STREAK_MESSAGES combo updates and a final message, as TikTok itself skips counts
when combos come fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.settings import commands as c
from bridge.sim import messages as m

Built = tuple[str, bytes]


class SimulateError(ValueError):
    """The request cannot be turned into a message; the text goes into the response."""


def _gift(f: c.SimGift) -> list[Built]:
    ref: int | str = int(f.gift) if f.gift.isascii() and f.gift.isdigit() else f.gift
    if f.diamonds is None:
        step = -(-f.count // c.MAX_STREAK_MESSAGES)  # ceil: at most MAX_STREAK_MESSAGES
        try:
            return m.gift_streak(f.viewer, ref, f.count, step=step)
        except KeyError:
            raise SimulateError(f"gift: unknown gift {f.gift!r}; give 'diamonds' too") from None
    gift_id = ref if isinstance(ref, int) else 1
    name = ref if isinstance(ref, str) else None
    # A finished streak in one message: repeat_end 1 carries the final count.
    return [m.gift(f.viewer, gift_id, name, f.diamonds, 1, repeat_count=f.count, repeat_end=1)]


_STREAM = {"paused": m.PAUSED, "resumed": m.UNPAUSED, "ended": m.ENDED}

_BUILDERS: dict[type, Callable[[Any], list[Built]]] = {
    c.SimChat: lambda f: [m.chat(f.viewer, f.text)],
    c.SimGift: _gift,
    c.SimLike: lambda f: [m.like(f.viewer, f.count, f.total)],
    c.SimMember: lambda f: [m.member(f.viewer, f.member_count)],
    c.SimFollow: lambda f: [m.follow(f.viewer, f.follow_count)],
    c.SimShare: lambda f: [m.share(f.viewer)],
    c.SimSubscribe: lambda f: [m.subscribe(f.viewer, f.months)],
    c.SimQuestion: lambda f: [m.question(f.viewer, f.text)],
    c.SimEmote: lambda f: [m.emote(f.viewer, f.emote_id)],
    c.SimEnvelope: lambda f: [m.envelope(f.viewer, f.diamonds)],
    c.SimViewers: lambda f: [m.viewers(f.current, f.total)],
    c.SimIntro: lambda f: [m.intro(f.text)],
    c.SimPin: lambda f: [m.pin(f.viewer, f.text)],
    c.SimBattle: lambda f: [m.battle_start(f.battle_id, ["host", "rival"])],
    c.SimStream: lambda f: [m.control(_STREAM[f.kind])],
}


def build(fields: Any) -> list[Built]:
    """Inner messages for one simulated event (fields: a checked SIMULATE_TYPES value)."""
    return _BUILDERS[type(fields)](fields)
