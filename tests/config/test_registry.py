"""Another layer adds a top-level section without touching bridge.config."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from bridge.config import Problem, SectionSpec, registry
from bridge.config.docs import render
from bridge.config.schema import ListOf, Number, Section, Text
from tests.config.conftest import Load

RULE = Section(
    doc="One rule.",
    children={
        "when": Text(doc="Event type.", required=True),
        "min_diamonds": Number(doc="Threshold.", default=0, integer=True, minimum=0),
        "token": Text(doc="Device token.", secret=True),
    },
)


def _rules(value: Any, doc: Mapping[str, Any]) -> Iterator[Problem]:
    for index, rule in enumerate(value):
        if isinstance(rule, Mapping) and rule["when"] == "never":
            yield Problem(f"actions[{index}].when", "can never match")


@pytest.fixture
def actions(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.sections()  # make sure core + discovered sections are loaded first
    spec = SectionSpec(
        name="actions",
        node=ListOf(doc="Rules.", item=RULE),
        build=lambda value, doc: tuple(r["when"] for r in value),
        rules=_rules,
    )
    monkeypatch.setitem(registry._SECTIONS, "actions", spec)


@pytest.mark.usefixtures("actions")
def test_registered_section_is_validated_built_and_redacted(load: Load) -> None:
    config = load("streamers: [a]\nactions: [{when: gift, token: tok-SECRET}]\n")
    assert config.sections["actions"] == ("gift",)
    assert config.redacted_dict()["actions"] == [
        {"when": "gift", "min_diamonds": 0, "token": "***"}
    ]


@pytest.mark.usefixtures("actions")
def test_registered_section_problems_join_the_list(problems: Any) -> None:
    found = problems("actions: [{when: never}, {wen: x}]\n")
    assert found["actions[0].when"] == "can never match"
    assert "did you mean 'when'?" in found["actions[1].wen"]
    assert found["actions[1].when"] == "is required"
    assert "streamers" in found


@pytest.mark.usefixtures("actions")
def test_registered_section_is_documented() -> None:
    assert "`actions[].min_diamonds`" in render()


def test_duplicate_registration_is_refused() -> None:
    registry.sections()
    with pytest.raises(ValueError, match="registered twice"):
        registry.register_section(SectionSpec("mqtt", Section(doc="x", children={})))
