"""The `actions:` section of config.yaml (issue 8): keys, checks and building the rules.

Discovered by bridge.config.registry: validated with every other section (all problems at once,
each with its key path), documented in docs/configuration.md, redacted in bridge/info, and
built into `Config.sections["actions"]` (an ActionsSettings).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bridge.actions.rules import (
    QUEUE_MODES,
    TRIGGER_EVENT_TOPIC,
    TRIGGER_TYPES,
    Action,
    ActionsSettings,
    QueueSettings,
    Repeat,
    Rule,
    Then,
    Trigger,
)
from bridge.actions.template import Template, TemplateError, compile_payload
from bridge.config.problems import Problem
from bridge.config.registry import SectionSpec
from bridge.config.schema import (
    INVALID,
    Bool,
    Context,
    ListOf,
    MapOf,
    Node,
    Number,
    Section,
    Text,
    check,
    did_you_mean,
    join,
    show,
)
from bridge.config.sections import normalize_user, topic_prefix_problem

_DEFAULTS: Final = ActionsSettings()
_QUEUE: Final = QueueSettings()
_NAME_PATTERN = r"[a-z0-9_-]{1,64}"
_NAME_DOC = "lower-case letters, digits, _ and - (1 to 64)"
# Caps that keep one rule from turning into a flood or a hidden loop.
MAX_JSON_NODES: Final = 200
MAX_JSON_DEPTH: Final = 8
MAX_ARGS: Final = 50


# --------------------------------------------------------------------------- custom nodes


@dataclass(frozen=True, kw_only=True, eq=False)
class OptionalSection(Section):
    """A section that is absent (None) unless written, e.g. `then:` and `repeat:`."""

    def missing(self, path: str, ctx: Context) -> Any:
        return None

    def null(self, path: str, ctx: Context) -> Any:
        return None


@dataclass(frozen=True, kw_only=True, eq=False)
class NameList(Node):
    """A list of free names checked against a pattern (streamer names, command arguments)."""

    pattern: str
    pattern_doc: str
    normalize: Any = None  # Callable[[str], str] | None
    max_items: int = 100

    def type_name(self) -> str:
        return "a list of names"

    def constraints(self) -> str:
        return f"each: {self.pattern_doc}"

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        if isinstance(value, str):
            value = [value]  # one name is a list of one
        if not isinstance(value, list) or not value:
            ctx.add(path, f"must be a non-empty list of names, got {show(value)}")
            return INVALID
        if len(value) > self.max_items:
            ctx.add(path, f"has too many entries (at most {self.max_items})")
            return INVALID
        names: list[str] = []
        bad = False
        for index, item in enumerate(value):
            text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
            if isinstance(text, str) and self.normalize is not None:
                text = self.normalize(text)
            if not isinstance(text, str) or not re.fullmatch(self.pattern, text):
                ctx.add(join(path, index), f"{show(item)} is not valid: {self.pattern_doc}")
                bad = True
            elif text not in names:
                names.append(text)
        return INVALID if bad else tuple(names)


@dataclass(frozen=True, kw_only=True, eq=False)
class ArgChoices(Node):
    """A command's allowed arguments: a list of words, or a mapping word -> value."""

    word: NameList

    def type_name(self) -> str:
        return "a list of words, or a mapping of word to value"

    def constraints(self) -> str:
        return f"words: {self.word.pattern_doc}; values: text without control characters"

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        if not isinstance(value, Mapping):
            words = self.word.convert(value, path, ctx)
            return INVALID if words is INVALID else tuple((w, w) for w in words)
        words = self.word.convert([str(k) for k in value], path, ctx)
        if words is INVALID:
            return INVALID
        pairs = []
        for word, item in zip(words, value.values(), strict=False):
            number = isinstance(item, int | float) and not isinstance(item, bool)
            text = str(item) if number else item
            if not isinstance(text, str) or len(text) > 64 or any(ord(c) < 32 for c in text):
                ctx.add(join(path, word), "must be text of at most 64 characters")
                return INVALID
            pairs.append((word, text))
        return tuple(pairs)

    def redact(self, value: Any) -> Any:
        return None if value in (None, INVALID) else {w: v for w, v in value}


@dataclass(frozen=True, kw_only=True, eq=False)
class Payload(Node):
    """Text, or a JSON mapping/list whose string leaves may hold {{ templates }}."""

    def type_name(self) -> str:
        return "text or a JSON mapping/list"

    def constraints(self) -> str:
        return "`{{ field }}` templates in text and in JSON string values"

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        if isinstance(value, bool):
            # YAML 1.1 reads ON/OFF/yes/no as booleans: a Tasmota "ON" would become true.
            ctx.add(path, 'YAML read this as true/false; quote it, e.g. payload: "ON"')
            return INVALID
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, str):
            if len(value) > 4096:
                ctx.add(path, "is too long (at most 4096 characters)")
                return INVALID
            return value if _template_ok(value, path, ctx) else INVALID
        if isinstance(value, Mapping | list):
            counter = [0]
            return value if _json_ok(value, path, ctx, 0, counter) else INVALID
        ctx.add(path, f"must be text or a JSON mapping/list, got {show(value)}")
        return INVALID

    def redact(self, value: Any) -> Any:
        return value if value is not INVALID else None


def _template_ok(text: str, path: str, ctx: Context) -> bool:
    try:
        template = Template.parse(text)
    except TemplateError as exc:
        ctx.add(path, str(exc))
        return False
    ok = True
    for field in template.fields:
        problem = field_problem(field)
        if problem:
            ctx.add(path, problem)
            ok = False
    return ok


def _json_ok(value: Any, path: str, ctx: Context, depth: int, counter: list[int]) -> bool:
    counter[0] += 1
    if counter[0] > MAX_JSON_NODES or depth > MAX_JSON_DEPTH:
        ctx.add(path, f"is too big (at most {MAX_JSON_NODES} values, {MAX_JSON_DEPTH} levels)")
        return False
    if isinstance(value, Mapping):
        results = []
        for key, item in value.items():
            if not isinstance(key, str):
                hint = ' (YAML reads on/off/yes/no as booleans: quote the key, "on":)'
                ctx.add(path, f"JSON keys must be text, got {show(key)}" + hint)
                return False
            results.append(_json_ok(item, join(path, key), ctx, depth + 1, counter))
        return all(results)
    if isinstance(value, list):
        return all(
            [_json_ok(item, join(path, i), ctx, depth + 1, counter) for i, item in enumerate(value)]
        )
    if isinstance(value, str):
        return _template_ok(value, path, ctx)
    if value is None or isinstance(value, bool | int):
        return True
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return True
    ctx.add(path, f"is not a JSON value: {show(value)}")
    return False


# Fields a template may use: event fields (docs/events.md) plus what a rule adds.
_USER_FIELDS: Final = frozenset(
    {
        "id",
        "unique_id",
        "nickname",
        "avatar_url",
        "is_moderator",
        "is_subscriber",
        "is_follower",
        "is_friend",
        "follow_role",
        "gifter_level",
        "fan_club_level",
        "verified",
    }
)
_GIFT_FIELDS: Final = frozenset({"id", "name", "diamonds_each", "type", "streakable", "image_url"})
_NESTED: Final = {"user": _USER_FIELDS, "to_user": _USER_FIELDS, "gift": _GIFT_FIELDS}
KNOWN_FIELDS: Final = frozenset(
    {
        # common
        "type", "event_type", "ts", "streamer", "room_id", "msg_id", "user", "simulated",
        # chat, gift, like, follow, share, subscribe, member
        "text", "language", "gift", "count", "diamonds", "final", "group_id", "to_user",
        "total", "users", "follow_count", "share_type", "target", "joined", "months",
        "subscribe_type", "sub_event", "action", "member_count",
        # viewers, stream started/ended
        "current", "title", "reason", "duration_s",
        # added by the rule
        "rule", "device", "arg", "command", "milestone",
    }
)  # fmt: skip


def field_problem(path: tuple[str, ...]) -> str | None:
    root = path[0]
    if root not in KNOWN_FIELDS:
        return f"unknown template field {root!r}" + did_you_mean(root, sorted(KNOWN_FIELDS))
    nested = _NESTED.get(root)
    if nested is not None and len(path) > 1 and path[1] not in nested:
        return f"unknown template field '{root}.{path[1]}'" + did_you_mean(path[1], sorted(nested))
    return None


def action_topic_problem(topic: str) -> str | None:
    problem = topic_prefix_problem(topic)
    if problem:
        return problem
    if "{{" in topic or "}}" in topic:
        return "must not contain templates: topics come from the configuration only"
    return None


# --------------------------------------------------------------------------- schema


def _seconds(doc: str, *, default: float | None = None, required: bool = False) -> Number:
    return Number(doc=doc, default=default, required=required, minimum=0.05, maximum=3600)


QUEUE = Section(
    doc="What happens when a device is busy and more rules fire for it.",
    children={
        "max": Number(
            doc="Firings that may wait behind the running one.",
            default=_QUEUE.max,
            integer=True,
            minimum=0,
            maximum=100,
        ),
        "mode": Text(
            doc="`queue`: wait in line, skip when full (`queue_full`). `coalesce`: when full, "
            "the newest replaces the last waiting one (`coalesced`). `drop`: never wait, skip "
            "while busy (`busy`).",
            default=_QUEUE.mode,
            choices=QUEUE_MODES,
        ),
    },
)

DEVICE_QUEUE = Section(
    doc="Queue of this device; unset keys come from `actions.queue`.",
    children={
        "max": Number(
            doc="Firings that may wait behind the running one.",
            integer=True,
            minimum=0,
            maximum=100,
        ),
        "mode": Text(doc="`queue`, `coalesce` or `drop`.", choices=QUEUE_MODES),
    },
)

TRIGGER = Section(
    doc="What fires the rule. Keys other than `type` narrow it down.",
    children={
        "type": Text(
            doc="`gift`, `like` (milestones), `follow`, `share`, `subscribe`, `join`, "
            "`command` (chat command), `stream_started`, `stream_ended`, `viewers` "
            "(viewer count crossing `threshold` upwards).",
            required=True,
            choices=TRIGGER_TYPES,
        ),
        "gift": Text(
            doc="gift: only this gift, by id (`5655`) or name (`Rose`, any case).",
            max_length=64,
        ),
        "tier": Text(
            doc="gift: only gifts of this diamond tier of the streamer (`large` or `gift_large`).",
            pattern=r"[a-z0-9_]{1,40}",
            pattern_doc="a tier name from streamers[].gift_tiers",
        ),
        "min_diamonds": Number(
            doc="gift: the whole gift (a finished streak: its final diamonds) is worth at least "
            "this much.",
            default=0,
            integer=True,
            minimum=0,
            maximum=10**9,
        ),
        "min_diamonds_each": Number(
            doc="gift: one gift of the kind is worth at least this much.",
            default=0,
            integer=True,
            minimum=0,
            maximum=10**9,
        ),
        "every": Number(
            doc="like: fire every N likes in the stream (`{{ milestone }}` = N, 2N, ...).",
            integer=True,
            minimum=1,
            maximum=10**9,
        ),
        "threshold": Number(
            doc="like: once per stream when the room's like total reaches N. viewers: each "
            "time the viewer count crosses N upwards.",
            integer=True,
            minimum=1,
            maximum=10**9,
        ),
        "command": Text(
            doc="command: the word after the prefix (`lamp` for `!lamp red`).",
            pattern=r"[A-Za-z0-9_]{1,32}",
            pattern_doc="letters, digits and _ (1 to 32)",
        ),
        "prefix": Text(
            doc="command: what starts a command.",
            default="!",
            pattern=r"[!/.#$%&*+?~^=-]{1,3}",
            pattern_doc="1 to 3 punctuation characters such as ! or /",
        ),
        "args": ArgChoices(
            doc="command: the allowed arguments, as a list (`[red, blue]`) or a mapping from "
            'word to value (`{red: "#ff0000"}`). With it the argument is required and '
            "`{{ arg }}` is the configured value; without it arguments are ignored.",
            word=NameList(
                doc="",
                pattern=r"[A-Za-z0-9_#.:-]{1,32}",
                pattern_doc="letters, digits and _ # . : - (1 to 32)",
                max_items=MAX_ARGS,
            ),
        ),
        "moderator_only": Bool(
            doc="Only the streamer's moderators fire it (with `subscriber_only`: either).",
            default=False,
        ),
        "subscriber_only": Bool(
            doc="Only subscribers fire it (with `moderator_only`: either).", default=False
        ),
    },
)

THEN = OptionalSection(
    doc="A second publish after a delay (on → off). Always sent: also on shutdown, kill switch "
    "and queue replacement, so a light never stays on.",
    children={
        "after_s": _seconds("Seconds after the first publish.", required=True),
        "payload": Payload(doc="The second payload (e.g. `OFF`).", required=True),
    },
)

REPEAT = OptionalSection(
    doc="Repeat the publish (and its `then`) to blink.",
    children={
        "times": Number(
            doc="How many times in all.", required=True, integer=True, minimum=2, maximum=100
        ),
        "interval_s": _seconds("Seconds from one start to the next.", required=True),
    },
)

ACTION = Section(
    doc="One MQTT publish.",
    children={
        "topic": Text(
            doc="Where to publish, e.g. `cmnd/lamp/POWER`. Fixed text: no templates, no "
            "wildcards, not under `mqtt.base_topic`.",
            required=True,
            rule=action_topic_problem,
            pattern_doc="MQTT topic without +, #, NUL, {{ or empty levels",
        ),
        "payload": Payload(
            doc="Text (`ON`) or JSON (`{state: ON}`); `{{ user.nickname }}`, `{{ gift.name }}`, "
            "`{{ count }}`, `{{ arg }}`... are filled from the event.",
            required=True,
        ),
        "qos": Number(doc="MQTT QoS.", default=1, integer=True, minimum=0, maximum=2),
        "retain": Bool(
            doc="Publish retained (latest wins, re-sent after reconnects). Off: a retained "
            "command would replay on every device reboot.",
            default=False,
        ),
        "then": THEN,
        "repeat": REPEAT,
    },
)

RULE = Section(
    doc="One rule: when `trigger` fires, publish `actions`.",
    children={
        "name": Text(
            doc="Unique name (shown in bridge/event and logs).",
            required=True,
            pattern=_NAME_PATTERN,
            pattern_doc=_NAME_DOC,
        ),
        "enabled": Bool(doc="Set false to keep a rule but not use it.", default=True),
        "streamers": NameList(
            doc="Only events of these streamers; every streamer when empty.",
            pattern=r"[a-z0-9._-]{1,64}",
            pattern_doc="a streamer user name",
            normalize=normalize_user,
        ),
        "trigger": TRIGGER,
        "actions": ListOf(
            doc="The publishes (1 to 10), started together.", item=ACTION, required=True
        ),
        "cooldown_s": Number(
            doc="After firing, the rule ignores triggers for this many seconds (`cooldown`).",
            default=0,
            minimum=0,
            maximum=86_400,
        ),
        "device": Text(
            doc="Queue key: rules driving the same lamp should name the same device. "
            "Defaults to the rule's name.",
            pattern=r"[a-z0-9_]{1,32}",
            pattern_doc="lower-case letters, digits and _ (at most 32)",
        ),
    },
)

ACTIONS = Section(
    doc="Direct actions: gift, like, follow and chat-command rules that publish to MQTT "
    "devices (WLED, Tasmota, zigbee2mqtt, relays) without Home Assistant. See docs/actions.md.",
    children={
        "enabled": Bool(
            doc="Initial state of the kill switch `<base_topic>/actions/set` (ON/OFF).",
            default=_DEFAULTS.enabled,
        ),
        "dry_run": Bool(
            doc="Log and report (bridge/event) what would be published; publish nothing.",
            default=_DEFAULTS.dry_run,
        ),
        "max_per_minute": Number(
            doc="Firings of all rules together per minute; more are skipped (`cap`).",
            default=_DEFAULTS.max_per_minute,
            integer=True,
            minimum=1,
            maximum=6000,
        ),
        "max_on_s": Number(
            doc="Longest time from an action's first publish to its last (`then`).",
            default=_DEFAULTS.max_on_s,
            minimum=1,
            maximum=86_400,
        ),
        "max_payload_bytes": Number(
            doc="Longer rendered payloads are not published (`payload_too_large`).",
            default=_DEFAULTS.max_payload_bytes,
            integer=True,
            minimum=64,
            maximum=65_536,
        ),
        "queue": QUEUE,
        "devices": MapOf(
            doc="Per-device settings, by the name rules use in `device`.",
            default={},
            value=Section(doc="One device.", children={"queue": DEVICE_QUEUE}),
        ),
        "rules": ListOf(doc="The rules, checked in order for every event.", item=RULE),
    },
)


# --------------------------------------------------------------------------- cross-key rules


def actions_rules(actions: Any, doc: Mapping[str, Any]) -> Iterator[Problem]:
    if not isinstance(actions, Mapping) or not isinstance(actions["rules"], list):
        return
    yield from _reserved_streamer(doc)
    names: dict[str, int] = {}
    for index, rule in enumerate(actions["rules"]):
        if not isinstance(rule, Mapping):
            continue
        path = join("actions.rules", index)
        name = rule["name"]
        if isinstance(name, str):
            if name in names:
                yield Problem(join(path, "name"), f"{name!r} is already rules[{names[name]}]")
            names.setdefault(name, index)
        yield from _trigger_rules(rule["trigger"], join(path, "trigger"))
        yield from _topic_enabled(rule, join(path, "trigger.type"), doc)
        yield from _action_rules(rule, path, actions, doc)


def _reserved_streamer(doc: Mapping[str, Any]) -> Iterator[Problem]:
    streamers = doc.get("streamers")
    for index, streamer in enumerate(streamers if isinstance(streamers, list) else []):
        if isinstance(streamer, Mapping) and streamer.get("user") == "actions":
            yield Problem(
                join(join("streamers", index), "user"),
                "'actions' is reserved for the action kill switch (<base_topic>/actions/set)",
            )


_ONLY_FOR: Final = {
    "gift": ("gift",),
    "tier": ("gift",),
    "every": ("like",),
    "threshold": ("like", "viewers"),
    "command": ("command",),
    "args": ("command",),
}


def _trigger_rules(trigger: Any, path: str) -> Iterator[Problem]:
    if not isinstance(trigger, Mapping) or not isinstance(trigger["type"], str):
        return
    kind = trigger["type"]
    for key, kinds in _ONLY_FOR.items():
        if trigger[key] not in (None, INVALID) and kind not in kinds:
            yield Problem(join(path, key), f"is only used by trigger type {' or '.join(kinds)}")
    for key in ("min_diamonds", "min_diamonds_each"):
        if trigger[key] not in (0, INVALID) and kind != "gift":
            yield Problem(join(path, key), "is only used by trigger type gift")
    if trigger["prefix"] not in ("!", INVALID) and kind != "command":
        yield Problem(join(path, "prefix"), "is only used by trigger type command")
    if kind == "like" and (trigger["every"] is None) == (trigger["threshold"] is None):
        yield Problem(path, "a like trigger needs exactly one of 'every' or 'threshold'")
    if kind == "viewers" and trigger["threshold"] is None:
        yield Problem(join(path, "threshold"), "is required for trigger type viewers")
    if kind == "command" and trigger["command"] is None:
        yield Problem(join(path, "command"), "is required for trigger type command")


def _topic_enabled(rule: Mapping[str, Any], path: str, doc: Mapping[str, Any]) -> Iterator[Problem]:
    """A rule that can never see its events (the streamers do not publish them) is a mistake."""
    trigger, streamers = rule["trigger"], doc.get("streamers")
    if not isinstance(trigger, Mapping) or not isinstance(streamers, list):
        return
    topic = TRIGGER_EVENT_TOPIC.get(trigger["type"]) if isinstance(trigger["type"], str) else None
    wanted = rule["streamers"] if isinstance(rule["streamers"], tuple) else None
    configured = [
        s for s in streamers
        if isinstance(s, Mapping) and isinstance(s.get("events"), tuple)
        and (wanted is None or s.get("user") in wanted)
    ]  # fmt: skip
    if topic is None or not configured:
        return
    if not any(topic in s["events"] for s in configured):
        yield Problem(
            path,
            f"needs '{topic}' events, which none of its streamers publish; add {topic!r} to "
            "streamers[].events",
        )


def _action_rules(
    rule: Mapping[str, Any], path: str, actions: Mapping[str, Any], doc: Mapping[str, Any]
) -> Iterator[Problem]:
    items = rule["actions"]
    if not isinstance(items, list):
        return
    if not 1 <= len(items) <= 10:
        yield Problem(join(path, "actions"), "needs 1 to 10 actions")
    base = doc["mqtt"].get("base_topic") if isinstance(doc.get("mqtt"), Mapping) else None
    for index, action in enumerate(items):
        if isinstance(action, Mapping):
            yield from _one_action(action, join(join(path, "actions"), index), actions, base)


def _one_action(
    action: Mapping[str, Any], path: str, actions: Mapping[str, Any], base: Any
) -> Iterator[Problem]:
    topic = action["topic"]
    if isinstance(base, str) and isinstance(topic, str) and (topic + "/").startswith(base + "/"):
        yield Problem(
            join(path, "topic"),
            f"must not be under mqtt.base_topic ({base!r}): that is the bridge's own tree",
        )
    then, repeat = action["then"], action["repeat"]
    if isinstance(then, Mapping) and isinstance(repeat, Mapping):
        after, interval = then["after_s"], repeat["interval_s"]
        if isinstance(after, float) and isinstance(interval, float) and after >= interval:
            yield Problem(
                join(path, "then.after_s"),
                f"must be shorter than repeat.interval_s ({interval:g}) to blink",
            )
    span = _span(then, repeat)
    limit = actions["max_on_s"]
    if span is not None and isinstance(limit, float) and span > limit:
        yield Problem(
            path, f"runs {span:g} s from first to last publish, more than actions.max_on_s"
        )


def _span(then: Any, repeat: Any) -> float | None:
    total = 0.0
    if isinstance(repeat, Mapping):
        if not isinstance(repeat["interval_s"], float) or not isinstance(repeat["times"], int):
            return None
        total += (repeat["times"] - 1) * repeat["interval_s"]
    if isinstance(then, Mapping):
        if not isinstance(then["after_s"], float):
            return None
        total += then["after_s"]
    return total


# --------------------------------------------------------------------------- build


def build_actions(actions: Mapping[str, Any], doc: Mapping[str, Any]) -> ActionsSettings:
    default_queue = QueueSettings(**actions["queue"])
    devices = {
        name: QueueSettings(
            max=device["queue"]["max"] if device["queue"]["max"] is not None else default_queue.max,
            mode=device["queue"]["mode"] or default_queue.mode,
        )
        for name, device in actions["devices"].items()
    }
    return ActionsSettings(
        enabled=actions["enabled"],
        dry_run=actions["dry_run"],
        max_per_minute=actions["max_per_minute"],
        max_on_s=actions["max_on_s"],
        max_payload_bytes=actions["max_payload_bytes"],
        queue=default_queue,
        devices=devices,
        rules=tuple(_build_rule(r) for r in actions["rules"]),
    )


def _build_rule(r: Mapping[str, Any]) -> Rule:
    return Rule(
        name=r["name"],
        trigger=Trigger(**r["trigger"]),
        actions=tuple(_build_action(a) for a in r["actions"]),
        device=r["device"] or r["name"].replace("-", "_")[:32],
        streamers=r["streamers"],
        cooldown_s=float(r["cooldown_s"]),
        enabled=r["enabled"],
    )


def _build_action(a: Mapping[str, Any]) -> Action:
    then, repeat = a["then"], a["repeat"]
    return Action(
        topic=a["topic"],
        payload=compile_payload(a["payload"]),
        qos=a["qos"],
        retain=a["retain"],
        then=Then(then["after_s"], compile_payload(then["payload"])) if then else None,
        repeat=Repeat(repeat["times"], repeat["interval_s"]) if repeat else None,
    )


def parse_actions(value: Any) -> tuple[ActionsSettings | None, list[Problem]]:
    """Check and build an `actions:` mapping on its own (tests, examples)."""
    ctx = Context(base_dir=Path("."))
    checked = check(ACTIONS, value, "actions", ctx)
    problems = list(ctx.problems)
    if not problems:
        problems.extend(actions_rules(checked, {"actions": checked}))
    return (build_actions(checked, {}) if not problems else None), problems


SECTION = SectionSpec(name="actions", node=ACTIONS, build=build_actions, rules=actions_rules)
