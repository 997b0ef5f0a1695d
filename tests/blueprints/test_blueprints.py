"""The automation blueprints (blueprints/automation/tiktok2mqtt/), checked without Home
Assistant: the blueprint schema, every ``!input`` declared and every input used, known
selector types, and — the part that breaks silently in HA — that what they trigger on and
read exists: the entity each one asks for is one MQTT discovery really creates (same
domain), the topic is the one the bridge publishes, and every event attribute a template
reads is a field of that event (docs/schemas/events.schema.json).

Loading them into a real Home Assistant and firing them is the HA end-to-end test's job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.events.model import ChatEvent
from bridge.mqtt.discovery import DEFAULT_BASE_TOPIC, streamer_device
from bridge.mqtt.topics import Topics
from bridge.service.addon import normalize_user
from bridge.settings.mqtt import HomeAssistantSettings
from bridge.settings.streamer import GOALS, StreamerSettings
from tests.helpers.paths import REPO

FOLDER = REPO / "blueprints" / "automation" / "tiktok2mqtt"
FILES = sorted(FOLDER.glob("*.yaml"))
EVENTS_SCHEMA = json.loads((REPO / "docs" / "schemas" / "events.schema.json").read_text())
USER = "demo_streamer"

# Selector types of Home Assistant 2025.4 (homeassistant/helpers/selector.py).
SELECTORS = frozenset((
    "action", "addon", "area", "assist_pipeline", "attribute", "backup_location", "boolean",
    "color_rgb", "color_temp", "condition", "config_entry", "constant", "qr_code",
    "conversation_agent", "country", "date", "datetime", "device", "duration", "entity",
    "floor", "icon", "label", "language", "location", "media", "number", "object", "select",
    "state", "target", "template", "text", "theme", "time", "trigger", "file",
))  # fmt: skip
BLUEPRINT_KEYS = {"name", "description", "domain", "input", "author", "homeassistant",
                  "source_url"}  # fmt: skip
INPUT_KEYS = {"name", "description", "default", "selector"}
AUTOMATION_KEYS = {"blueprint", "mode", "max", "max_exceeded", "variables", "trigger_variables",
                   "triggers", "conditions", "actions", "trace"}  # fmt: skip

# What each blueprint is for: its entity input → (discovery component key, domain), and the
# event whose payload its templates read (as HA event attributes or an MQTT payload).
USES: dict[str, tuple[dict[str, tuple[str, str]], str | None]] = {
    "gift_flash_light.yaml": ({"gift_event": ("gift", "event")}, "gift"),
    "on_air_lamp.yaml": ({"live_sensor": ("live", "binary_sensor")}, None),
    "chat_command_tts.yaml": ({}, "chat"),
    "like_goal_scene.yaml": ({"counter": ("likes", "sensor")}, None),
    "goal_reached_scene.yaml": ({"goal_event": ("goal_reached", "event")}, "goal"),
}


@dataclass(frozen=True)
class Input:
    name: str


class Loader(yaml.SafeLoader):
    """Like Home Assistant's loader for blueprints: ``!input name`` is a reference."""


Loader.add_constructor(
    "!input",
    lambda loader, node: Input(str(loader.construct_scalar(node))),  # type: ignore[arg-type]
)


def load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # a SafeLoader
    assert isinstance(data, dict)
    return data


def walk(node: Any) -> list[Any]:
    """Every scalar (and Input) in a YAML tree."""
    if isinstance(node, dict):
        return [x for value in node.values() for x in walk(value)]
    if isinstance(node, list):
        return [x for value in node for x in walk(value)]
    return [node]


def discovered() -> dict[str, dict[str, Any]]:
    """The components MQTT discovery creates for a streamer with default settings."""
    device = streamer_device(Topics(DEFAULT_BASE_TOPIC), StreamerSettings(USER),
                             HomeAssistantSettings())  # fmt: skip
    return device.components


def test_the_blueprints_are_there() -> None:
    assert [p.name for p in FILES] == sorted(USES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_blueprint_schema(path: Path) -> None:
    data = load(path)
    assert set(data) <= AUTOMATION_KEYS, set(data) - AUTOMATION_KEYS
    assert {"triggers", "actions"} <= set(data)
    meta = data["blueprint"]
    assert set(meta) <= BLUEPRINT_KEYS, set(meta) - BLUEPRINT_KEYS
    assert meta["domain"] == "automation"
    assert meta["name"].startswith("TikTok LIVE: ") and len(meta["description"]) > 80
    # Device-based discovery (and so the entities) needs 2024.11.
    assert meta["homeassistant"] == {"min_version": "2024.11.0"}
    for name, spec in meta["input"].items():
        assert re.fullmatch(r"[a-z_]+", name), name
        assert set(spec) <= INPUT_KEYS and "name" in spec, (name, spec)
        selector = spec["selector"]
        assert isinstance(selector, dict) and len(selector) == 1, (name, selector)
        (kind,) = selector
        assert kind in SELECTORS, (name, kind)
        if "default" in spec:
            check_default(kind, selector[kind] or {}, spec["default"], name)


def check_default(kind: str, options: dict[str, Any], default: Any, name: str) -> None:
    if kind == "number":
        assert isinstance(default, int | float), name
        assert options.get("min", default) <= default <= options.get("max", default), name
    elif kind == "select":
        values = [o["value"] if isinstance(o, dict) else o for o in options["options"]]
        chosen = default if options.get("multiple") else [default]
        assert isinstance(chosen, list) and set(chosen) <= set(values), name
    elif kind == "color_rgb":
        assert len(default) == 3 and all(0 <= c <= 255 for c in default), name
    elif kind == "text":
        assert isinstance(default, str), name


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_input_is_declared_and_used(path: Path) -> None:
    data = load(path)
    declared = set(data["blueprint"]["input"])
    body = {k: v for k, v in data.items() if k != "blueprint"}
    used = {x.name for x in walk(body) if isinstance(x, Input)}
    assert used <= declared, f"undeclared !input {used - declared}"
    assert declared <= used, f"inputs never used: {declared - used}"
    assert not [x for x in walk(data["blueprint"]) if isinstance(x, Input)]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_entities_are_ones_discovery_creates(path: Path) -> None:
    data = load(path)
    components = discovered()
    entity_inputs, _ = USES[path.name]
    for name, (key, domain) in entity_inputs.items():
        selector = data["blueprint"]["input"][name]["selector"]["entity"]
        assert selector["filter"] == [{"integration": "mqtt", "domain": domain}], name
        assert components[key]["platform"] == domain, (name, key)
        # The input drives a trigger, not just an action.
        triggers = [t for t in data["triggers"] if t.get("entity_id") == Input(name)]
        assert triggers, f"{name} is not a trigger"
    # Entity ids named in the descriptions are real: "event.tiktok_<user>_gift" …
    ids = {c["default_entity_id"] for c in components.values()}
    text = json.dumps(data["blueprint"], default=str).replace("<user>", USER)
    named = set(re.findall(rf"\b[a-z_]+\.tiktok_{USER}_[a-z_]+\b", text))
    assert bool(named) == bool(entity_inputs), "the description names the entity to pick"
    assert named <= ids, named - ids


def test_counters_and_live_have_what_the_blueprints_assume() -> None:
    components = discovered()
    # like goal: a number per stream that restarts at 0 (a new crossing each stream)
    for key in ("likes", "diamonds", "follows", "shares"):
        assert components[key]["state_class"] == "total_increasing"
        assert components[key]["value_template"] == f"{{{{ value_json.{key} }}}}"
    # goal reached: one event type per goal, the names the goal selector offers
    data = load(FOLDER / "goal_reached_scene.yaml")
    offered = [o["value"] for o in data["blueprint"]["input"]["goals"]["selector"]["select"][
        "options"]]  # fmt: skip
    assert components["goal_reached"]["event_types"] == offered == list(GOALS)
    # on-air lamp: on/off
    assert components["live"]["platform"] == "binary_sensor"
    assert components["live"]["device_class"] == "running"


def render(template: str, values: dict[str, str]) -> str:
    """The few Jinja forms a trigger topic uses: {{ name | trim | lower | replace('a','b') }}."""

    def expression(match: re.Match[str]) -> str:
        name, *filters = (part.strip() for part in match.group(1).split("|"))
        value = values[name]
        for spec in filters:
            if spec in ("trim", "lower"):
                value = value.strip() if spec == "trim" else value.lower()
            elif found := re.fullmatch(r"replace\('([^']*)',\s*'([^']*)'\)", spec):
                value = value.replace(found.group(1), found.group(2))
            else:
                raise AssertionError(f"filter {spec!r} not understood by this test")
        return value

    return re.sub(r"\{\{(.*?)\}\}", expression, template)


def test_chat_command_listens_on_the_chat_topic() -> None:
    data = load(FOLDER / "chat_command_tts.yaml")
    inputs = data["blueprint"]["input"]
    assert inputs["base_topic"]["default"] == DEFAULT_BASE_TOPIC
    (trigger,) = data["triggers"]
    assert trigger["trigger"] == "mqtt"
    names = {k: v.name for k, v in data["trigger_variables"].items()}
    for typed in (" @Demo_Streamer ", "demo_streamer", "@demo_streamer"):
        values = {var: {"base_topic": DEFAULT_BASE_TOPIC, "streamer": typed}[inp]
                  for var, inp in names.items()}  # fmt: skip
        expected = Topics(DEFAULT_BASE_TOPIC).streamer(normalize_user(typed))
        assert render(trigger["topic"], values) == expected.event(ChatEvent.topic)
    values = {"base_topic": "tiktok2", "streamer": "alice.live"}
    assert render(trigger["topic"], values) == Topics("tiktok2").streamer("alice.live").event(
        "chat"
    )


# ---------------------------------------------------------------- event fields


def resolve(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A schema's alternatives with $ref / allOf / oneOf followed (object parts only)."""
    if "$ref" in schema:
        return resolve(EVENTS_SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[1]])
    found = [schema]
    for part in schema.get("allOf", []):
        found += resolve(part)
    for part in schema.get("oneOf", []) + schema.get("anyOf", []):
        found += resolve(part)
    return found


def field_exists(event: str, path: list[str]) -> bool:
    if path and path[0] == "event_type":  # HA's own attribute of event entities
        return len(path) == 1
    nodes = resolve(EVENTS_SCHEMA["$defs"][event])
    for segment in path:
        children = [
            child
            for node in nodes
            for child in [node.get("properties", {}).get(segment)]
            if child is not None
        ]
        if not children:
            return False
        nodes = [n for child in children for n in resolve(child)]
    return True


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_templates_read_only_fields_the_event_has(path: Path) -> None:
    _, event = USES[path.name]
    templates = " ".join(x for x in walk(load(path)) if isinstance(x, str) and "{" in x)
    read = re.findall(r"trigger\.(?:to_state\.attributes|payload_json)\.([a-z_.]+)", templates)
    if event is None:
        assert not read, f"reads event fields {read} but is not about an event"
        return
    assert read, "reads no event field"
    for field_path in read:
        assert field_exists(event, field_path.strip(".").split(".")), f"{event}.{field_path}"


def test_field_check_would_notice_a_typo() -> None:
    assert field_exists("gift", ["diamonds"]) and field_exists("chat", ["user", "nickname"])
    assert not field_exists("gift", ["diamond"])
    assert not field_exists("chat", ["user", "nick"])


def test_blueprints_are_documented() -> None:
    docs = (REPO / "docs" / "home-assistant.md").read_text()
    for path in FILES:
        assert f"blueprints/automation/tiktok2mqtt/{path.name}" in docs, path.name
