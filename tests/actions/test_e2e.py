"""End to end: simulator → Bridge → ActionEngine → real mosquitto, a subscriber plays the device.

Checks exact topics, payloads and order; timings only as generous lower bounds.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import aiomqtt

from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from tests.core.support import config_yaml, make_config, running_virtual
from tests.helpers.mosquitto import Mosquitto, MqttRecorder, Subscribe

STREAMER = "- user: alice\n"
ACTIONS = """\
actions:
  max_on_s: 60
  rules:
    - name: rose
      trigger: {type: gift, gift: Rose}
      device: lamp
      cooldown_s: 30
      actions:
        - topic: cmnd/lamp/POWER
          payload: "ON"
          then: {after_s: 0.3, payload: "OFF"}
    - name: lion
      trigger: {type: gift, gift: Lion}
      device: strip
      actions:
        - topic: wled/strip1/api
          payload: {"on": true, bri: 255, seg: [{col: [[255, 215, 0]]}],
                    from: "{{ user.nickname }}", gift: "{{ gift.name }}", count: "{{ count }}"}
          repeat: {times: 3, interval_s: 0.3}
          then: {after_s: 0.1, payload: {"on": false}}
    - name: colour
      trigger: {type: command, command: lamp, args: {red: "#ff0000", blue: "#0000ff"},
                moderator_only: true}
      device: lamp
      actions:
        - topic: zigbee2mqtt/lamp/set
          payload: {state: "ON", color: {hex: "{{ arg }}"}, by: "{{ user.nickname }}",
                    said: "{{ text }}"}
    - name: hold
      trigger: {type: follow}
      device: plug
      actions:
        - topic: cmnd/plug/POWER
          payload: "ON"
          then: {after_s: 30, payload: "OFF"}
"""

HOSTILE = '"},"on":false}\\\n+/#\x00' + "é" * 300


def config_text(broker: Mosquitto, sim: TikTokSimulator, tmp: Path, actions: str) -> str:
    return config_yaml(broker, sim, tmp / "state", STREAMER) + textwrap.dedent(actions)


def reports(rec: MqttRecorder) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for msg in rec.on("tiktok/bridge/event"):
        body = msg.json()
        if body["type"] == "action":
            out.append(body["data"])
    return out


async def publish(broker: Mosquitto, topic: str, payload: str) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, payload, qos=1)


async def test_gifts_and_commands_drive_devices(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    device = await subscriber(mosquitto, ["cmnd/#", "wled/#", "zigbee2mqtt/#", "tiktok/#"])
    cfg = make_config(config_text(mosquitto, simulator, tmp_path, ACTIONS), tmp_path)
    async with running_virtual(cfg) as bridge:
        await device.wait_for("tiktok/alice/state", lambda x: x.json()["status"] == "connected")
        await device.wait_for("tiktok/actions/state", lambda x: x.text == "ON")
        hostile = m.viewer("evil", HOSTILE)
        room.push(
            m.gift("ann", "Rose", repeat_count=1, repeat_end=1),
            m.gift("bob", "Rose", repeat_count=1, repeat_end=1),  # inside the 30 s cooldown
            m.gift(hostile, "Lion", repeat_count=1),
            m.chat(m.viewer("mod", moderator=True), "!lamp red"),
            m.chat(m.viewer("mod", moderator=True), "!lamp <script>"),
            m.chat("pleb", "!lamp blue"),  # not a moderator
        )
        await device.wait_count("cmnd/lamp/POWER", 2, timeout=15)
        await device.wait_count("wled/strip1/api", 6, timeout=15)
        await device.wait_count("zigbee2mqtt/lamp/set", 1, timeout=15)
        await asyncio.sleep(0.5)  # room for anything that must NOT happen
        health = bridge.health()["actions"]

    lamp = device.on("cmnd/lamp/POWER")
    assert [x.text for x in lamp] == ["ON", "OFF"]  # the second Rose hit the cooldown
    assert not any(x.retain for x in lamp)

    strip = device.on("wled/strip1/api")
    bodies = [x.json() for x in strip]  # every payload is valid JSON despite the nickname
    assert [b["on"] for b in bodies] == [True, False] * 3
    first = bodies[0]
    assert first["seg"] == [{"col": [[255, 215, 0]]}] and first["bri"] == 255
    assert first["gift"] == "Lion" and first["count"] == 1
    assert first["from"].startswith('"},"on":false}\\+/') and len(first["from"]) <= 200
    # Topics never change with live data: only the configured device topics were used.
    device_topics = {x.topic for x in device.messages if not x.topic.startswith("tiktok/")}
    assert device_topics == {"cmnd/lamp/POWER", "wled/strip1/api", "zigbee2mqtt/lamp/set"}

    (z2m,) = device.on("zigbee2mqtt/lamp/set")
    assert z2m.json()["color"] == {"hex": "#ff0000"} and z2m.json()["state"] == "ON"

    by_rule = {(r["rule"], (r["actions"]["skipped"] or {}).get("reason")) for r in reports(device)}
    assert by_rule == {("rose", None), ("rose", "cooldown"), ("lion", None), ("colour", None)}
    rose = next(r for r in reports(device) if r["rule"] == "rose")
    assert rose["streamer"] == "alice" and rose["trigger_event"]["type"] == "gift"
    assert rose["trigger_event"]["msg_id"].isdigit()
    assert health["fired"] == 3 and health["skipped"] == {"cooldown": 1}
    assert health["rejected_args"] == 1


async def test_kill_switch_over_mqtt_sends_off(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    device = await subscriber(
        mosquitto, ["cmnd/#", "tiktok/actions/#", "tiktok/bridge/event", "tiktok/alice/state"]
    )
    cfg = make_config(config_text(mosquitto, simulator, tmp_path, ACTIONS), tmp_path)
    async with running_virtual(cfg):
        await device.wait_for("tiktok/actions/state", lambda x: x.text == "ON")
        await device.wait_for("tiktok/alice/state", lambda x: x.json()["status"] == "connected")
        room.push(m.follow("fan1"))
        await device.wait_for("cmnd/plug/POWER", lambda x: x.text == "ON", timeout=15)
        await publish(mosquitto, "tiktok/actions/set", "OFF")
        # The 30 s "off" goes out at once, and the switch state is retained OFF.
        await device.wait_for("cmnd/plug/POWER", lambda x: x.text == "OFF", timeout=5)
        await device.wait_for("tiktok/actions/state", lambda x: x.text == "OFF")
        room.push(m.follow("fan2"))
        await device.wait_for(
            "tiktok/bridge/event",
            lambda x: (
                (x.json()["data"].get("actions") or {}).get("skipped") == {"reason": "disabled"}
            ),
            timeout=10,
        )
    assert [x.text for x in device.on("cmnd/plug/POWER")] == ["ON", "OFF"]


async def test_shutdown_sends_off_and_dry_run_publishes_nothing(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = simulator.add_user("alice", live=True)
    device = await subscriber(mosquitto, ["cmnd/#", "tiktok/bridge/event", "tiktok/alice/state"])
    connected = lambda x: x.json()["status"] == "connected"  # noqa: E731
    cfg = make_config(config_text(mosquitto, simulator, tmp_path, ACTIONS), tmp_path)
    async with running_virtual(cfg):
        await device.wait_for("tiktok/alice/state", connected)
        room.push(m.follow("fan1"))
        await device.wait_for("cmnd/plug/POWER", lambda x: x.text == "ON", timeout=15)
    # Leaving `running` stops the bridge: the pending 30 s "off" was still published.
    await device.wait_for("cmnd/plug/POWER", lambda x: x.text == "OFF", timeout=5)

    device.clear()
    dry = ACTIONS.replace("max_on_s: 60", "max_on_s: 60\n  dry_run: true")
    cfg = make_config(config_text(mosquitto, simulator, tmp_path, dry), tmp_path)
    async with running_virtual(cfg):
        await device.wait_for("tiktok/alice/state", connected)
        room.push(m.follow("fan2"))
        is_action = lambda x: x.json()["type"] == "action"  # noqa: E731
        report = await device.wait_for("tiktok/bridge/event", is_action, timeout=15)
        await asyncio.sleep(0.5)
    data = report.json()["data"]
    assert data["actions"]["skipped"] == {"reason": "dry_run"}
    assert [(p["topic"], p["payload"]) for p in data["actions"]["would_publish"]] == [
        ("cmnd/plug/POWER", "ON"),
        ("cmnd/plug/POWER", "OFF"),
    ]
    assert device.on("cmnd/#") == []
    assert json.dumps(data)


async def test_every_gift_on_an_idle_lamp_fires(
    mosquitto: Mosquitto, simulator: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    """Issue 11: gifts arriving once the lamp went idle again were lost every other time
    (the worker waited for a queue the hand-over never filled) and `running` stayed up."""
    rule = """\
actions:
  rules:
    - name: rose
      trigger: {type: gift, gift: Rose}
      device: lamp
      actions:
        - topic: cmnd/lamp/POWER
          payload: "ON"
          then: {after_s: 0.2, payload: "OFF"}
"""
    room = simulator.add_user("alice", live=True)
    device = await subscriber(mosquitto, ["cmnd/#", "tiktok/#"])
    cfg = make_config(config_text(mosquitto, simulator, tmp_path, rule), tmp_path)
    async with running_virtual(cfg) as bridge:
        await device.wait_for("tiktok/alice/state", lambda x: x.json()["status"] == "connected")
        for n in range(4):
            room.push(m.gift(f"fan{n}", "Rose", repeat_count=1, repeat_end=1))
            await device.wait_for(
                "tiktok/bridge/event", lambda _, n=n: len(reports(device)) > n, timeout=15
            )
            # The lamp is idle again (its OFF went out) before the next gift.
            await device.wait_count("cmnd/lamp/POWER", 2 * (n + 1), timeout=15)
        await device.wait_count("cmnd/lamp/POWER", 8, timeout=15)
        health = bridge.health()["actions"]
    assert [x.text for x in device.on("cmnd/lamp/POWER")] == ["ON", "OFF"] * 4
    assert [r["actions"]["skipped"] for r in reports(device)] == [None] * 4
    assert (health["fired"], health["running"], health["queued"]) == (4, 0, 0)
