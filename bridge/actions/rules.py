"""The `actions:` section, declared once: the frozen rules the engine runs, checked and built
from config.yaml by the settings machinery (templates compiled, queues resolved).

Its own checks (payload templates, topics, cross-key rules) are in
bridge.actions.config_section, because they need the actions' template language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from bridge.actions.config_section import (
    MAX_ARGS,
    ArgChoices,
    NameList,
    Payload,
    action_topic_problem,
    actions_rules,
)
from bridge.actions.template import PayloadTemplate
from bridge.settings.declare import node_of, parse, section, setting
from bridge.settings.names import normalise_user
from bridge.settings.problems import Problem

QueueMode = Literal["queue", "coalesce", "drop"]
TriggerType = Literal[
    "gift", "like", "follow", "share", "subscribe", "join", "command",
    "stream_started", "stream_ended", "viewers",
]  # fmt: skip


@section("What fires the rule. Keys other than `type` narrow it down.")
class Trigger:
    type: TriggerType = setting(
        doc="`gift`, `like` (milestones), `follow`, `share`, `subscribe`, `join`, `command` "
        "(chat command), `stream_started`, `stream_ended`, `viewers` (viewer count crossing "
        "`threshold` upwards)."
    )
    # gift id ("5655") or name ("Rose", case-insensitive)
    gift: str | None = setting(
        default=None,
        doc="gift: only this gift, by id (`5655`) or name (`Rose`, any case).",
        max_length=64,
    )
    tier: str | None = setting(  # "large" or "gift_large"
        default=None,
        doc="gift: only gifts of this diamond tier of the streamer (`large` or `gift_large`).",
        pattern=r"[a-z0-9_]{1,40}",
        pattern_doc="a tier name from streamers[].gift_tiers",
    )
    min_diamonds: int = setting(  # the whole gift/streak (the final event's diamonds)
        default=0,
        doc="gift: the whole gift (a finished streak: its final diamonds) is worth at least "
        "this much.",
        minimum=0,
        maximum=10**9,
    )
    min_diamonds_each: int = setting(
        default=0,
        doc="gift: one gift of the kind is worth at least this much.",
        minimum=0,
        maximum=10**9,
    )
    every: int | None = setting(
        default=None,
        doc="like: fire every N likes in the stream (`{{ milestone }}` = N, 2N, ...).",
        minimum=1,
        maximum=10**9,
    )
    threshold: int | None = setting(
        default=None,
        doc="like: once per stream when the room's like total reaches N. viewers: each "
        "time the viewer count crosses N upwards.",
        minimum=1,
        maximum=10**9,
    )
    command: str | None = setting(  # chat command word without the prefix
        default=None,
        doc="command: the word after the prefix (`lamp` for `!lamp red`).",
        pattern=r"[A-Za-z0-9_]{1,32}",
        pattern_doc="letters, digits and _ (1 to 32)",
    )
    prefix: str = setting(
        default="!",
        doc="command: what starts a command.",
        pattern=r"[!/.#$%&*+?~^=-]{1,3}",
        pattern_doc="1 to 3 punctuation characters such as ! or /",
    )
    # Allow-list of the command's argument: (word the viewer types, value used as {{ arg }}).
    args: tuple[tuple[str, str], ...] | None = setting(
        default=None,
        doc="command: the allowed arguments, as a list (`[red, blue]`) or a mapping from "
        'word to value (`{red: "#ff0000"}`). With it the argument is required and '
        "`{{ arg }}` is the configured value; without it arguments are ignored.",
        kind=ArgChoices(
            word=NameList(
                pattern=r"[A-Za-z0-9_#.:-]{1,32}",
                pattern_doc="letters, digits and _ # . : - (1 to 32)",
                max_items=MAX_ARGS,
            )
        ),
    )
    moderator_only: bool = setting(
        default=False,
        doc="Only the streamer's moderators fire it (with `subscriber_only`: either).",
    )
    subscriber_only: bool = setting(
        default=False, doc="Only subscribers fire it (with `moderator_only`: either)."
    )


@section(
    "A second publish after a delay (on → off). Always sent: also on shutdown, kill switch "
    "and queue replacement, so a light never stays on."
)
class Then:
    after_s: float = setting(doc="Seconds after the first publish.", minimum=0.05, maximum=3600)
    payload: PayloadTemplate = setting(doc="The second payload (e.g. `OFF`).", kind=Payload())


@section("Repeat the publish (and its `then`) to blink.")
class Repeat:
    times: int = setting(doc="How many times in all.", minimum=2, maximum=100)
    interval_s: float = setting(
        doc="Seconds from one start to the next.", minimum=0.05, maximum=3600
    )


@section("One MQTT publish.")
class Action:
    topic: str = setting(  # from configuration only, never templated
        doc="Where to publish, e.g. `cmnd/lamp/POWER`. Fixed text: no templates, no "
        "wildcards, not under `mqtt.base_topic`.",
        rule=action_topic_problem,
        pattern_doc="MQTT topic without +, #, NUL, {{ or empty levels",
    )
    payload: PayloadTemplate = setting(
        doc="Text (`ON`) or JSON (`{state: ON}`); `{{ user.nickname }}`, `{{ gift.name }}`, "
        "`{{ count }}`, `{{ arg }}`... are filled from the event.",
        kind=Payload(),
    )
    qos: int = setting(default=1, doc="MQTT QoS.", minimum=0, maximum=2)
    retain: bool = setting(
        default=False,
        doc="Publish retained (latest wins, re-sent after reconnects). Off: a retained "
        "command would replay on every device reboot.",
    )
    then: Then | None = setting(default=None)
    repeat: Repeat | None = setting(default=None)

    @property
    def duration_s(self) -> float:
        """From the first publish to the last one (the last "off")."""
        span = (self.repeat.times - 1) * self.repeat.interval_s if self.repeat else 0.0
        return span + (self.then.after_s if self.then else 0.0)


@section("One rule: when `trigger` fires, publish `actions`.")
class Rule:
    name: str = setting(
        doc="Unique name (shown in bridge/event and logs).",
        pattern=r"[a-z0-9_-]{1,64}",
        pattern_doc="lower-case letters, digits, _ and - (1 to 64)",
    )
    trigger: Trigger = setting()
    actions: tuple[Action, ...] = setting(doc="The publishes (1 to 10), started together.")
    # Queue key: rules driving the same lamp share one queue. Empty: the rule's name.
    device: str = setting(
        default="",
        doc="Queue key: rules driving the same lamp should name the same device.",
        default_doc="the rule's name",
        pattern=r"[a-z0-9_]{1,32}",
        pattern_doc="lower-case letters, digits and _ (at most 32)",
    )
    streamers: tuple[str, ...] | None = setting(  # None: every streamer
        default=None,
        doc="Only events of these streamers; every streamer when empty.",
        kind=NameList(
            pattern=r"[a-z0-9._-]{1,64}",
            pattern_doc="a streamer user name",
            normalize=normalise_user,
        ),
    )
    cooldown_s: float = setting(
        default=0.0,
        doc="After firing, the rule ignores triggers for this many seconds (`cooldown`).",
        minimum=0,
        maximum=86_400,
    )
    enabled: bool = setting(default=True, doc="Set false to keep a rule but not use it.")

    def __post_init__(self) -> None:
        if not self.device:
            object.__setattr__(self, "device", self.name.replace("-", "_")[:32])

    def applies_to(self, streamer: str) -> bool:
        return self.streamers is None or streamer in self.streamers


@section("What happens when a device is busy and more rules fire for it.")
class QueueSettings:
    max: int = setting(
        default=5, doc="Firings that may wait behind the running one.", minimum=0, maximum=100
    )
    mode: QueueMode = setting(
        default="queue",
        doc="`queue`: wait in line, skip when full (`queue_full`). `coalesce`: when full, the "
        "newest replaces the last waiting one (`coalesced`). `drop`: never wait, skip while "
        "busy (`busy`).",
    )


@section("Queue of this device; unset keys come from `actions.queue`.")
class DeviceQueue:
    max: int | None = setting(
        default=None, doc="Firings that may wait behind the running one.", minimum=0, maximum=100
    )
    mode: QueueMode | None = setting(default=None, doc="`queue`, `coalesce` or `drop`.")


@section("One device.")
class DeviceSettings:
    queue: DeviceQueue = setting(default_factory=DeviceQueue)


@section(
    "Direct actions: gift, like, follow and chat-command rules that publish to MQTT devices "
    "(WLED, Tasmota, zigbee2mqtt, relays) without Home Assistant. See docs/actions.md.",
    rules=actions_rules,
)
class ActionsSettings:
    enabled: bool = setting(  # initial state of the kill switch (<base>/actions/set)
        default=True, doc="Initial state of the kill switch `<base_topic>/actions/set` (ON/OFF)."
    )
    dry_run: bool = setting(
        default=False,
        doc="Log and report (bridge/event) what would be published; publish nothing.",
    )
    max_per_minute: int = setting(
        default=30,
        doc="Firings of all rules together per minute; more are skipped (`cap`).",
        minimum=1,
        maximum=6000,
    )
    max_on_s: float = setting(
        default=600.0,
        doc="Longest time from an action's first publish to its last (`then`).",
        minimum=1,
        maximum=86_400,
    )
    max_payload_bytes: int = setting(
        default=4096,
        doc="Longer rendered payloads are not published (`payload_too_large`).",
        minimum=64,
        maximum=65_536,
    )
    queue: QueueSettings = setting(default_factory=QueueSettings)
    devices: Mapping[str, DeviceSettings] = setting(
        default_factory=dict,
        doc="Per-device settings, by the name rules use in `device`.",
        key_pattern=r"[a-z0-9_]{1,32}",
        key_doc="lower-case letters, digits and _ (at most 32)",
    )
    rules: tuple[Rule, ...] = setting(
        default=(), doc="The rules, checked in order for every event."
    )

    def queue_of(self, device: str) -> QueueSettings:
        """The device's queue: its own keys, the rest from `actions.queue`."""
        own = self.devices.get(device)
        if own is None:
            return self.queue
        q = own.queue
        return QueueSettings(
            max=self.queue.max if q.max is None else q.max, mode=q.mode or self.queue.mode
        )


def parse_actions(value: Any) -> tuple[ActionsSettings | None, list[Problem]]:
    """Check and build an `actions:` mapping on its own (tests, examples)."""
    # root {}: the rules that look at streamers and mqtt have nothing to compare with.
    built, problems = parse(node_of(ActionsSettings), value, path="actions", root={})
    return built, problems
