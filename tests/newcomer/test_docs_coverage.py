"""The docs cannot silently fall behind the code: config keys, MQTT topics, README links."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from bridge.config.model import ROOT
from bridge.core.commands import CommandRouter
from bridge.events.model import Event
from bridge.mqtt.topics import StreamerTopics, Topics
from bridge.settings.schema import walk

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
# Topics methods that take an argument; each is covered below by name.
KNOWN_TOPIC_METHODS = {"request", "response", "streamer", "streamer_of", "command_of_request"}
KNOWN_STREAMER_METHODS = {"event"}


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _code_spans(text: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", text))


def test_every_config_key_is_in_configuration_md() -> None:
    spans = _code_spans(_text("configuration.md"))
    missing = [path for path, _ in walk(ROOT) if path not in spans]
    assert not missing, f"config keys missing in docs/configuration.md: {missing}"


def _properties(obj: object) -> dict[str, str]:
    found = {}
    for name, value in vars(type(obj)).items():
        if isinstance(value, property) and isinstance(topic := getattr(obj, name), str):
            found[name] = topic
    return found


def _public_methods(cls: type) -> set[str]:
    return {n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")}


def _event_topics() -> set[str]:
    topics, todo = set(), list(Event.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        topics.add(cls.topic)
    return topics


def test_every_mqtt_topic_in_code_is_in_mqtt_api_md() -> None:
    spans = _code_spans(_text("mqtt-api.md"))
    topics = Topics("BASE")
    streamer = topics.streamer("user")
    wanted = {t.replace("BASE", "<base>") for t in _properties(topics).values()}
    wanted |= {t.replace("BASE/user", "<base>/<user>") for t in _properties(streamer).values()}
    wanted |= {"<base>/bridge/request/<cmd>", "<base>/bridge/response/<cmd>"}
    missing = sorted(t for t in wanted if t not in spans and not t.endswith("/#"))
    assert not missing, f"topics missing in docs/mqtt-api.md: {missing}"


def test_every_event_topic_and_request_command_is_in_mqtt_api_md() -> None:
    spans = _code_spans(_text("mqtt-api.md"))
    missing = sorted(t for t in _event_topics() if t not in spans)
    assert not missing, f"event topics missing in docs/mqtt-api.md: {missing}"
    target = SimpleNamespace(add_streamer=None)
    router = CommandRouter(Topics("tiktok"), lambda *_: None, target)
    undocumented = [c for c in router.commands if c not in spans]
    assert not undocumented, f"request commands missing in docs/mqtt-api.md: {undocumented}"


def test_topic_builders_are_all_known_to_this_test() -> None:
    # A new topic-building method must be added to the checks above (and to the docs).
    assert _public_methods(Topics) <= KNOWN_TOPIC_METHODS
    assert _public_methods(StreamerTopics) <= KNOWN_STREAMER_METHODS


def _links(path: Path) -> list[str]:
    targets = re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8"))
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and t[0] != "#"]


def test_every_local_link_in_readme_and_docs_index_exists() -> None:
    for page in (REPO / "README.md", DOCS / "README.md"):
        broken = [t for t in _links(page) if not (page.parent / t).exists()]
        assert not broken, f"{page.relative_to(REPO)} links to missing files: {broken}"


def test_every_doc_is_linked_from_the_docs_index_and_the_readme() -> None:
    index = {(DOCS / t).resolve() for t in _links(DOCS / "README.md")}
    readme = {(REPO / t).resolve() for t in _links(REPO / "README.md")}
    pages = {p.resolve() for p in DOCS.glob("*.md") if p.name != "README.md"}
    assert not pages - index, f"not in docs/README.md: {sorted(p.name for p in pages - index)}"
    assert not pages - readme, f"not in README.md: {sorted(p.name for p in pages - readme)}"
