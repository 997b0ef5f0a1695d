"""Checks of the `actions:` section that need the actions' own code: payload templates
(known fields only), device topics, and the rules across keys (a trigger's keys fit its type,
a rule can see its events, on → off spans).

The keys are declared in bridge.actions.rules; these nodes and rules are plugged into it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from bridge.actions.template import Template, TemplateError, compile_payload
from bridge.settings.names import topic_prefix_problem
from bridge.settings.problems import Problem
from bridge.settings.schema import (
    INVALID,
    Context,
    Node,
    did_you_mean,
    join,
    show,
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
# Caps that keep one rule from turning into a flood or a hidden loop.
MAX_JSON_NODES: Final = 200
MAX_JSON_DEPTH: Final = 8
MAX_ARGS: Final = 50


# --------------------------------------------------------------------------- custom nodes


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

    def build(self, value: Any) -> Any:
        return compile_payload(value)

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


# --------------------------------------------------------------------------- cross-key rules


def actions_rules(
    actions: Mapping[str, Any], section_path: str, doc: Mapping[str, Any]
) -> Iterator[Problem]:
    if not isinstance(actions["rules"], list):
        return
    names: dict[str, int] = {}
    for index, rule in enumerate(actions["rules"]):
        if not isinstance(rule, Mapping):
            continue
        path = join(join(section_path, "rules"), index)
        name = rule["name"]
        if isinstance(name, str):
            if name in names:
                yield Problem(join(path, "name"), f"{name!r} is already rules[{names[name]}]")
            names.setdefault(name, index)
        yield from _trigger_rules(rule["trigger"], join(path, "trigger"))
        yield from _topic_enabled(rule, join(path, "trigger.type"), doc)
        yield from _action_rules(rule, path, actions, doc)


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
