"""docs/configuration.md, the request tables of docs/mqtt-api.md and config.yaml.example
cannot drift from the declarations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bridge.config.docs import render, with_requests
from bridge.config.model import ROOT
from bridge.settings.schema import walk

REPO = Path(__file__).resolve().parents[2]
FIX = "run: python -m bridge.config.docs --write"


def test_checked_in_docs_are_generated_from_the_declarations() -> None:
    current = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert current == render(), FIX


def test_request_fields_in_the_mqtt_api_are_generated() -> None:
    current = (REPO / "docs" / "mqtt-api.md").read_text(encoding="utf-8")
    assert current == with_requests(current), FIX


def _lookup(doc: Any, path: str) -> bool:
    """Whether a schema path (`streamers[].gift_tiers.<name>`) exists in the example."""
    node = doc
    for part in path.split("."):
        if part == "<name>":
            return isinstance(node, dict) and len(node) > 0
        is_list = part.endswith("[]")
        part = part.removesuffix("[]")
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
        if is_list:
            if not isinstance(node, list) or not node:
                return False
            node = node[0]  # the first entry shows every key
    return True


def test_every_key_appears_in_the_example() -> None:
    text = (REPO / "config.yaml.example").read_text(encoding="utf-8")
    example = yaml.safe_load(text)
    # An optional section (cluster:) changes how the bridge runs when present, so the
    # example shows it as a commented-out block with every key.
    commented = {name for name, node in ROOT.children.items() if getattr(node, "optional", False)}
    missing = [
        path
        for path, _ in walk(ROOT)
        if not _lookup(example, path)
        and not (
            path.split(".")[0] in commented
            and f"# {path.split('.')[0]}:" in text
            and ("." not in path or f"#   {path.split('.')[-1]}:" in text)
        )
    ]
    assert missing == []


def test_docs_mention_every_key() -> None:
    rendered = render()
    for path, _ in walk(ROOT):
        assert f"`{path}`" in rendered
