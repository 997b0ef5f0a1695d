"""docs/configuration.md and config.yaml.example cannot drift from the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bridge.config.docs import render
from bridge.config.registry import root_node
from bridge.config.schema import walk

REPO = Path(__file__).resolve().parents[2]


def test_checked_in_docs_are_generated_from_the_schema() -> None:
    current = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert current == render(), "run: python -m bridge.config.docs > docs/configuration.md"


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


def test_every_schema_key_appears_in_the_example() -> None:
    text = (REPO / "config.yaml.example").read_text(encoding="utf-8")
    example = yaml.safe_load(text)
    missing = [path for path, _ in walk(root_node()) if not _lookup(example, path)]
    assert missing == []


def test_docs_mention_every_key() -> None:
    rendered = render()
    for path, _ in walk(root_node()):
        assert f"`{path}`" in rendered
