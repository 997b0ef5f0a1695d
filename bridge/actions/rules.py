"""The action rules as the engine sees them: frozen, checked, templates compiled.

bridge.actions.config_section builds these from the `actions:` section of config.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from bridge.actions.template import PayloadTemplate

TRIGGER_TYPES: Final = (
    "gift",
    "like",
    "follow",
    "share",
    "subscribe",
    "join",
    "command",
    "stream_started",
    "stream_ended",
    "viewers",
)
# Which published event topic feeds a trigger (the streamer must publish it); None = a
# bridge-level event (stream started/ended, viewer counts) that always reaches the engine.
TRIGGER_EVENT_TOPIC: Final[dict[str, str | None]] = {
    "gift": "gift",
    "like": "like",
    "follow": "follow",
    "share": "share",
    "subscribe": "subscribe",
    "join": "member",
    "command": "chat",
    "stream_started": None,
    "stream_ended": None,
    "viewers": None,
}
QUEUE_MODES: Final = ("queue", "coalesce", "drop")
QueueMode = Literal["queue", "coalesce", "drop"]


@dataclass(frozen=True, slots=True)
class Trigger:
    type: str
    gift: str | None = None  # gift id ("5655") or name ("Rose", case-insensitive)
    tier: str | None = None  # "large" or "gift_large"
    min_diamonds: int = 0  # the whole gift/streak (the final event's diamonds)
    min_diamonds_each: int = 0  # one gift of the streak
    every: int | None = None  # likes: every N likes in the stream
    threshold: int | None = None  # likes: room total reaches N; viewers: count crosses N
    command: str | None = None  # chat command word without the prefix
    prefix: str = "!"
    # Allow-list of the command's argument: (word the viewer types, value used as {{ arg }}).
    args: tuple[tuple[str, str], ...] | None = None
    moderator_only: bool = False
    subscriber_only: bool = False


@dataclass(frozen=True, slots=True)
class Then:
    after_s: float
    payload: PayloadTemplate


@dataclass(frozen=True, slots=True)
class Repeat:
    times: int
    interval_s: float


@dataclass(frozen=True, slots=True)
class Action:
    topic: str  # from configuration only, never templated
    payload: PayloadTemplate
    qos: int = 1
    retain: bool = False
    then: Then | None = None
    repeat: Repeat | None = None

    @property
    def duration_s(self) -> float:
        """From the first publish to the last one (the last "off")."""
        span = (self.repeat.times - 1) * self.repeat.interval_s if self.repeat else 0.0
        return span + (self.then.after_s if self.then else 0.0)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    trigger: Trigger
    actions: tuple[Action, ...]
    device: str  # queue key: rules driving the same lamp share one queue
    streamers: tuple[str, ...] | None = None  # None: every streamer
    cooldown_s: float = 0.0
    enabled: bool = True

    def applies_to(self, streamer: str) -> bool:
        return self.streamers is None or streamer in self.streamers


@dataclass(frozen=True, slots=True)
class QueueSettings:
    max: int = 5  # firings waiting behind the running one
    mode: QueueMode = "queue"


@dataclass(frozen=True, slots=True)
class ActionsSettings:
    enabled: bool = True  # initial state of the kill switch (<base>/actions/set)
    dry_run: bool = False
    max_per_minute: int = 30  # firings of all rules together
    max_on_s: float = 600.0  # longest on → off span an action may have
    max_payload_bytes: int = 4096
    queue: QueueSettings = field(default_factory=QueueSettings)
    devices: dict[str, QueueSettings] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()

    def queue_of(self, device: str) -> QueueSettings:
        return self.devices.get(device, self.queue)
