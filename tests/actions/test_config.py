"""The `actions:` section: examples validate, mistakes are reported with key paths."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.actions.rules import ActionsSettings
from bridge.config import load_config
from tests.config.conftest import Load, load, problems, write  # noqa: F401 - fixtures
from tests.helpers.paths import REPO

EXAMPLES = sorted((REPO / "examples" / "actions").glob("*.yaml"))


def test_there_are_four_examples() -> None:
    assert {p.stem for p in EXAMPLES} == {"wled", "tasmota", "zigbee2mqtt", "relay"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_valid(path: Path, tmp_path: Path) -> None:
    config = load_config(path, env={}, docker_secrets_dir=tmp_path / "none")
    actions = config.sections["actions"]
    assert isinstance(actions, ActionsSettings) and actions.rules
    # bridge/info carries the checked section: it must be JSON.
    assert json.dumps(config.redacted_dict()["actions"])


def test_built_rules(load: Load) -> None:  # noqa: F811
    config = load(
        """
streamers: [alice]
actions:
  devices: {strip: {queue: {mode: coalesce}}}
  rules:
    - name: lamp-colour
      streamers: ["@Alice"]
      trigger: {type: command, command: lamp, args: {red: "#ff0000"}, moderator_only: true}
      device: strip
      actions: [{topic: cmnd/lamp/Color, payload: "{{ arg }}"}]
"""
    )
    actions: ActionsSettings = config.sections["actions"]
    (rule,) = actions.rules
    assert rule.streamers == ("alice",) and rule.device == "strip"
    assert rule.trigger.args == (("red", "#ff0000"),) and rule.trigger.moderator_only
    assert actions.queue_of("strip").mode == "coalesce"
    assert actions.queue_of("strip").max == actions.queue.max  # inherited
    assert config.redacted_dict()["actions"]["rules"][0]["trigger"]["args"] == {"red": "#ff0000"}


def test_no_actions_section_means_no_rules(load: Load) -> None:  # noqa: F811
    assert load("streamers: [alice]\n").sections["actions"].rules == ()


def test_problems_have_key_paths(problems: Callable[..., dict[str, str]]) -> None:  # noqa: F811
    found = problems(
        """
streamers: [{user: alice, events: [chat, gift]}]
actions:
  rules:
    - name: a
      trigger: {type: gift, gift: Rose, every: 3}
      actions:
        - topic: cmnd/lamp/POWER
          payload: ON
          then: {after_s: 1, payload: {on: false}}
    - name: a
      trigger: {type: command, command: lamp, args: ["<script>"]}
      actions:
        - topic: "cmnd/{{ user.nickname }}/POWER"
          payload: {who: "{{ user.nick }}", n: "{{ cnt }}", bad: "{{ user.__class__ }}"}
    - name: b
      trigger: {type: join}
      actions:
        - topic: tiktok/alice/chat/send
          payload: "hi {{ exec('x') }}"
          repeat: {times: 3, interval_s: 1}
          then: {after_s: 2, payload: "OFF"}
    - name: c
      trigger: {type: like}
      actions:
        - topic: cmnd/+/POWER
          payload: "ON"
          then: {after_s: 3000, payload: "OFF"}
"""
    )
    assert "quote it" in found["actions.rules[0].actions[0].payload"]
    assert "quote the key" in found["actions.rules[0].actions[0].then.payload"]
    assert found["actions.rules[0].trigger.every"] == "is only used by trigger type like"
    assert "already rules[0]" in found["actions.rules[1].name"]
    assert "is not valid" in found["actions.rules[1].trigger.args[0]"]
    assert "templates" in found["actions.rules[1].actions[0].topic"]
    assert "did you mean 'nickname'" in found["actions.rules[1].actions[0].payload.who"]
    assert "did you mean 'count'" in found["actions.rules[1].actions[0].payload.n"]
    assert "unknown template field" in found["actions.rules[1].actions[0].payload.bad"]
    assert "'member'" in found["actions.rules[2].trigger.type"]
    assert "not a field name" in found["actions.rules[2].actions[0].payload"]
    assert "base_topic" in found["actions.rules[2].actions[0].topic"]
    assert "repeat.interval_s" in found["actions.rules[2].actions[0].then.after_s"]
    assert "exactly one of" in found["actions.rules[3].trigger"]
    assert "wildcards" in found["actions.rules[3].actions[0].topic"]
    assert "max_on_s" in found["actions.rules[3].actions[0]"]


def test_unknown_keys_and_types(problems: Callable[..., dict[str, str]]) -> None:  # noqa: F811
    found = problems(
        """
streamers: [alice]
actions:
  dryrun: true
  queue: {mode: fifo}
  rules:
    - name: x
      trigger: {type: gifts}
      actions: [{topic: a/b, payload: "1", qos: 3}]
      cooldown: 5
"""
    )
    assert "did you mean 'dry_run'" in found["actions.dryrun"]
    assert "expected one of: queue, coalesce, drop" in found["actions.queue.mode"]
    assert "did you mean 'gift'" in found["actions.rules[0].trigger.type"]
    assert "0 to 2" in found["actions.rules[0].actions[0].qos"]
    assert "did you mean 'cooldown_s'" in found["actions.rules[0].cooldown"]


def test_streamer_named_actions_is_reserved(problems: Callable[..., dict[str, str]]) -> None:  # noqa: F811
    found = problems("streamers: [actions]\n")
    assert "reserved" in found["streamers[0].user"]
