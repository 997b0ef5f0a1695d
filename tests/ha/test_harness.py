"""The harness's own promises (tests/ha/harness.py), for the tests that build on it: YAML
packages (goal entities, helpers), blueprints through HA's blueprint API, automations
through HA's automation editor API, services, registries and a restart that keeps them."""

from __future__ import annotations

import pytest

from tests.ha.harness import HarnessError, HomeAssistant

pytestmark = [pytest.mark.ha, pytest.mark.timeout(300)]

BLUEPRINT = """\
blueprint:
  name: Set a number when a flag turns on
  domain: automation
  input:
    flag: {name: Flag, selector: {entity: {domain: input_boolean}}}
    target: {name: Number, selector: {entity: {domain: input_number}}}
    value: {name: Value, default: 42}
triggers:
  - trigger: state
    entity_id: !input flag
    to: "on"
actions:
  - action: input_number.set_value
    target: {entity_id: !input target}
    data: {value: !input value}
"""


async def test_packages_blueprints_automations_and_a_restart(
    home_assistant: HomeAssistant,
) -> None:
    ha = home_assistant
    ha.write_package("goals", {
        "input_number": {"like_goal": {"min": 0, "max": 100000, "initial": 0}},
        "input_boolean": {"goal_flag": {"initial": False}},
    })  # fmt: skip
    await ha.start()
    assert (await ha.wait_state("input_number.like_goal", "0.0"))["attributes"]["max"] == 100000

    await ha.save_blueprint("automation", "tests/set_number.yaml", BLUEPRINT)
    assert "tests/set_number.yaml" in await ha.blueprints()
    entity_id = await ha.add_automation({
        "id": "goal_from_blueprint", "alias": "Goal from blueprint",
        "use_blueprint": {"path": "tests/set_number.yaml", "input": {
            "flag": "input_boolean.goal_flag", "target": "input_number.like_goal",
            "value": 500}},
    })  # fmt: skip
    assert entity_id == "automation.goal_from_blueprint"
    await ha.wait_state(entity_id, "on")  # "unavailable" would mean an invalid automation

    await ha.call_service("input_boolean.turn_on", {"entity_id": "input_boolean.goal_flag"})
    await ha.wait_state("input_number.like_goal", "500.0")
    assert (await ha.automations())["Goal from blueprint"]["attributes"]["last_triggered"]
    with pytest.raises(HarnessError, match="HTTP 4"):
        await ha.call_service("no_such_domain.no_such_service")

    registry = await ha.registry()
    assert any(e["entity_id"] == entity_id for e in registry["entities"])

    await ha.stop()
    await ha.start()  # same directory: token, registries, MQTT entry and YAML survive
    await ha.wait_state(entity_id, "on")
    assert [e["domain"] for e in await ha.mqtt_entries()] == ["mqtt"]
