"""Scripted live sessions: timed steps played against a simulator.

    scenario = Scenario().at(0, go_live("alice")).at(1.5, push("alice", lambda: chat("ann", "hi")))
    await sim.play(scenario, speed=10)      # 10x faster; speed=math.inf: no waiting

Messages are built when their step runs (fresh msg_ids, current create_time).
``demo_session()`` is the realistic stream used by ``tiktok2mqtt demo`` and ``sim --scenario demo``.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from bridge.sim import messages as m
from bridge.sim.rooms import SimRoom
from bridge.tiktok.pb import webcast_pb2 as pb


class Stage(Protocol):
    """What a scenario drives: the simulator's rooms (bridge.sim.server.TikTokSimulator)."""

    @property
    def rooms(self) -> dict[str, SimRoom]: ...

    def add_user(self, unique_id: str) -> SimRoom: ...

    def room_by_user(self, unique_id: str) -> SimRoom | None: ...

    def room(self, unique_id: str) -> SimRoom: ...


Action = Callable[[Stage], "Awaitable[None] | None"]
MessageFactory = Callable[[], "m.Built | Iterable[m.Built]"]


@dataclass(order=True, slots=True)
class Step:
    at: float
    index: int
    action: Action = field(compare=False)
    label: str = field(default="", compare=False)


@dataclass(slots=True)
class Scenario:
    steps: list[Step] = field(default_factory=list)

    def at(self, t: float, action: Action, label: str = "") -> Scenario:
        """Run ``action(sim)`` at ``t`` seconds (scenario time). Chainable."""
        self.steps.append(Step(t, len(self.steps), action, label))
        return self

    @property
    def duration(self) -> float:
        return max((s.at for s in self.steps), default=0.0)


async def play(sim: Stage, scenario: Scenario, *, speed: float = 1.0) -> None:
    """Run the steps in time order; ``speed`` > 1 is faster, ``math.inf`` does not wait."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for step in sorted(scenario.steps):
        due = start + (0.0 if math.isinf(speed) else step.at / speed)
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        result = step.action(sim)
        if inspect.isawaitable(result):
            await result
        for room in sim.rooms.values():
            await room.drain()  # back-pressure: never queue unbounded data in the sockets


# ------------------------------------------------------------------ step factories


def go_live(user: str, *, title: str | None = None) -> Action:
    def action(sim: Stage) -> None:
        room = sim.room_by_user(user) or sim.add_user(user)
        room.go_live(title=title)

    return action


def end(user: str, action_code: int = m.ENDED) -> Action:
    return lambda sim: sim.room(user).end(action_code)


def pause(user: str) -> Action:
    return lambda sim: sim.room(user).pause()


def unpause(user: str) -> Action:
    return lambda sim: sim.room(user).unpause()


def push(user: str, factory: MessageFactory) -> Action:
    """Push what ``factory()`` builds (one message or several) as one frame."""

    def action(sim: Stage) -> None:
        built = factory()
        items = [built] if isinstance(built, tuple) else list(built)
        sim.room(user).push(*items)

    return action


# ------------------------------------------------------------------ the demo stream

_CHATS = (
    ("ann_lisboa", "Ana 🌸", "hello from Lisbon 👋", "en"),
    ("carlos.mx", "Carlos", "¡Hola! qué buen directo 😍", "es"),
    ("berlin_ben", "Ben", "Guten Abend aus Berlin 🍺", "de"),
    ("yuki_jp", "ゆき", "こんにちは！ライト最高 ✨", "ja"),
    ("camille.fr", "Camille", "Salut tout le monde 🇫🇷", "fr"),
    ("joao_br", "João", "Olá do Brasil 🇧🇷🔥", "pt"),
    ("layla", "ليلى", "مرحبا من القاهرة 🌙", "ar"),
    ("ann_lisboa", "Ana 🌸", "can you make the lamp go purple? 💜", "en"),
)
_VIEWER_CURVE = (
    (2, 12),
    (10, 48),
    (20, 130),
    (35, 260),
    (50, 410),
    (65, 380),
    (80, 300),
    (95, 120),
)


def demo_session(user: str = "sim_streamer", *, opponent: str = "rival_streamer") -> Scenario:
    """A ~2-minute LIVE: viewers rise and fall, chats in seven languages, gift streaks and
    big gifts, like bursts, follows, shares, a battle, a subscription, a question, the
    stream ends, then a new stream (new room id) starts."""
    s = Scenario().at(0, go_live(user, title="Smart lights build 💡 (simulated)"), "live")
    s.at(1, push(user, lambda: m.intro("Building a smart home, ask me anything!")))
    total = 0
    for t, current in _VIEWER_CURVE:
        total += max(current // 2, 5)
        s.at(t, push(user, _viewers(current, total)), "viewers")
    _audience(s, user)
    _gifts(s, user)
    _battle(s, user, opponent)
    s.at(96, end(user), "end")
    s.at(104, go_live(user, title="Back again! (simulated)"), "live again")
    s.at(105, push(user, _viewers(5, 5)))
    s.at(107, push(user, lambda: m.chat("ann_lisboa", "you're back! 🎉")))
    s.at(110, push(user, lambda: m.gift_streak(m.viewer("bob.two", "Bob"), "Rose", 3)))
    return s


def _viewers(current: int, total: int) -> MessageFactory:
    return lambda: m.viewers(current, total, top=[(m.viewer("bob.two", "Bob"), 1530)])


def _audience(s: Scenario, user: str) -> None:
    for i, (handle, nick, text, lang) in enumerate(_CHATS):
        who = m.viewer(handle, nick)
        s.at(3 + i * 9, push(user, _join(who, 12 + i * 20)))
        s.at(4 + i * 9, push(user, _chat(who, text, lang)))
    s.at(22, push(user, lambda: m.chat(m.viewer("yuki_jp", "ゆき"), "", emotes=["1234567"])))
    total_likes = 0
    for burst in range(6):
        for k in range(4):
            total_likes += 15
            s.at(15 + burst * 12 + k * 0.3, push(user, _like(f"fan_{burst}", total_likes)))
    for t, handle in ((12, "camille.fr"), (30, "joao_br"), (58, "carlos.mx")):
        s.at(t, push(user, _follow(handle)))
    s.at(33, push(user, lambda: m.share(m.viewer("berlin_ben", "Ben"))))
    s.at(70, push(user, lambda: m.share(m.viewer("layla", "ليلى"), joined=5)))
    s.at(45, push(user, lambda: m.subscribe(m.viewer("ann_lisboa", "Ana 🌸", subscriber=True), 3)))
    s.at(
        52,
        push(user, lambda: m.question(m.viewer("berlin_ben", "Ben"), "Which bulbs are you using?")),
    )


def _join(who: pb.User, count: int) -> MessageFactory:
    return lambda: m.member(who, count)


def _chat(who: pb.User, text: str, lang: str) -> MessageFactory:
    return lambda: m.chat(who, text, language=lang)


def _follow(handle: str) -> MessageFactory:
    return lambda: m.follow(m.viewer(handle), 1)


def _like(handle: str, total: int) -> MessageFactory:
    return lambda: m.like(m.viewer(handle), 15, total)


def _gifts(s: Scenario, user: str) -> None:
    bob = m.viewer("bob.two", "Bob")
    s.at(18, push(user, lambda: m.gift_streak(bob, "Rose", 5)))
    s.at(27, push(user, lambda: m.gift_streak(m.viewer("yuki_jp", "ゆき"), "Finger Heart", 3)))
    s.at(40, push(user, lambda: m.gift_streak(m.viewer("carlos.mx", "Carlos"), "Galaxy", 1)))
    s.at(62, push(user, lambda: m.gift_streak(m.viewer("joao_br", "João"), "Lion", 1)))
    s.at(75, push(user, lambda: m.envelope(bob, 500, 20)))


def _battle(s: Scenario, user: str, opponent: str) -> None:
    battle_id = 7_350_000_000_000_000_123

    def anchors(sim: Stage) -> tuple[int, int]:
        return sim.room(user).user_id, m.viewer(opponent).id

    def start(sim: Stage) -> None:
        room = sim.room(user)
        room.push(m.battle_start(battle_id, [room.owner(), m.viewer(opponent)], duration_s=30))

    def score(ours: int, theirs: int, final: bool = False) -> Action:
        def action(sim: Stage) -> None:
            me, them = anchors(sim)
            build = m.battle_end if final else m.battle_score
            sim.room(user).push(build(battle_id, {me: ours, them: theirs}))

        return action

    s.at(78, start, "battle")
    s.at(82, score(120, 90))
    s.at(86, score(640, 410))
    s.at(90, score(1840, 1200))
    s.at(93, score(1840, 1200, final=True), "battle end")
