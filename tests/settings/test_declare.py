"""One declaration per setting: what is derived from a `setting()` field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

import pytest

from bridge.config.model import ROOT, Config
from bridge.settings.declare import node_of, parse, restart_changes, secrets_in, section, setting
from bridge.settings.problems import Problem
from bridge.settings.schema import Bool, ListOf, MapOf, Number, SecretValue, Section, Text, walk


def _never(value: Mapping[str, Any], path: str, root: Mapping[str, Any]) -> Iterator[Problem]:
    if value["when"] == "never":
        yield Problem(f"{path}.when", "can never match")


@section("One rule.", rules=_never, restart=False)
class Rule:
    when: Literal["gift", "like", "never"] = setting(doc="Event type.")
    min_diamonds: int = setting(default=0, doc="Threshold.", minimum=0, maximum=100)
    token: str | None = setting(default=None, doc="Device token.", secret=True)
    urgent: bool = setting(default=False, doc="Skip the queue.", restart=True)


@section("Toy settings.")
class Toy:
    rules: tuple[Rule, ...] = setting(default=(), doc="Rules.")
    weights: Mapping[str, float] = setting(default_factory=dict, doc="Weights.", maximum=1)
    note: str = setting(default="hi", doc="A note.", max_length=5)
    internal: int = 3  # no setting(): not a key


def test_the_node_tree_is_derived_from_annotations_and_metadata() -> None:
    node = node_of(Toy)
    kinds = {path: type(n) for path, n in walk(node)}
    assert kinds == {
        "rules": ListOf,
        "rules[].when": Text,
        "rules[].min_diamonds": Number,
        "rules[].token": Text,
        "rules[].urgent": Bool,
        "weights": MapOf,
        "note": Text,
    }
    when = node_of(Rule).children["when"]
    assert isinstance(when, Text) and when.choices == ("gift", "like", "never") and when.required
    assert node_of(Rule).children["min_diamonds"].default == 0
    assert node_of(Rule).children["token"].secret


def test_valid_input_builds_the_settings_objects() -> None:
    built, problems = parse(node_of(Toy), {"rules": [{"when": "gift", "token": "t"}]})
    assert problems == []
    assert built == Toy(rules=(Rule(when="gift", token="t"),))
    assert built.internal == 3
    assert "'t'" not in repr(built)  # secret fields are out of repr


def test_every_problem_with_its_path_and_cross_key_rules() -> None:
    data = {"rules": [{"when": "never"}, {"wen": "x"}], "weights": {"a": 2}, "note": "toolong"}
    _, problems = parse(node_of(Toy), data, path="toy")
    found = {p.path: p.message for p in problems}
    assert found["toy.rules[0].when"] == "can never match"
    assert "did you mean 'when'?" in found["toy.rules[1].wen"]
    assert found["toy.rules[1].when"] == "is required"
    assert "must be <= 1" in found["toy.weights.a"]
    assert "too long" in found["toy.note"]


def test_secrets_are_redacted_and_collected() -> None:
    node = node_of(Toy)
    doc = {"rules": [{"when": "gift", "min_diamonds": 0, "token": "tok-1", "urgent": False}],
           "weights": {}, "note": SecretValue("n-2")}  # fmt: skip
    assert node.redact(doc)["rules"][0]["token"] == "***"
    assert node.redact(doc)["note"] == "***"  # came from !secret
    assert sorted(secrets_in(node, doc)) == ["n-2", "tok-1"]


def test_proxy_credentials_are_collected_raw_and_decoded() -> None:
    doc = {"tiktok": {"proxy": "socks5://bob:p%40ss%2Fw@proxy.lan:1080"}}
    found = set(secrets_in(ROOT, doc))
    assert {"p%40ss%2Fw", "p@ss/w", "bob"} <= found


def test_restart_is_derived_from_the_declaration() -> None:
    node = node_of(Toy)
    old = Toy(rules=(Rule(when="gift"),))
    assert list(restart_changes(node, old, old)) == []
    # A list is compared whole: the rules key of Toy needs a restart (its section's default).
    changed = Toy(rules=(Rule(when="gift", min_diamonds=5),))
    assert list(restart_changes(node, old, changed)) == ["rules"]
    # Inside Rule, min_diamonds applies in place (restart=False); urgent needs a restart.
    rule = node_of(Rule)
    assert list(restart_changes(rule, Rule("gift"), Rule("gift", min_diamonds=5))) == []
    assert list(restart_changes(rule, Rule("gift"), Rule("gift", urgent=True))) == ["urgent"]


def test_every_key_of_the_file_is_documented() -> None:
    undocumented = [path for path, n in walk(ROOT) if not n.doc.strip()]
    assert undocumented == []


def test_a_type_without_a_node_is_refused_at_declaration() -> None:
    @section("Bad.")
    class Bad:
        when: complex = setting(default=0j, doc="?")

    with pytest.raises(TypeError, match="no configuration node"):
        node_of(Bad)


def test_config_is_the_root_declaration() -> None:
    assert isinstance(ROOT, Section) and ROOT.cls is Config
    assert list(ROOT.children) == [
        "mqtt", "homeassistant", "tiktok", "streamers", "logging", "service", "actions",
        "cluster",
    ]  # fmt: skip
    assert Config().source is None  # not keys: plain defaults
    assert ROOT.children["streamers"].required  # the code has a default, the file must say
