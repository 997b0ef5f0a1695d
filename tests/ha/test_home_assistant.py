"""End to end with a REAL Home Assistant (tests/ha/harness.py): the daemon as a process
(``python -m bridge run``), the TikTok simulator, mosquitto, HA.

One test on purpose: starting HA costs ~9 s, so one scenario walks the whole life of a
streamer device — discovery, states, events, notify, automations, why a streamer cannot be
watched, an HA restart, removal by SIGHUP. Run with ``pytest -m ha`` (``scripts/test -m ha``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge import __version__
from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from tests.ha.harness import HomeAssistant
from tests.helpers.mosquitto import Mosquitto, MqttRecorder, Subscribe
from tests.helpers.paths import REPO

pytestmark = [pytest.mark.ha, pytest.mark.timeout(600)]

EXAMPLES = REPO / "examples" / "home-assistant"
USER = "demo_streamer"
DEVICE = f"tiktok_{USER}"
WAIT_S = 60.0  # upper bounds only: a hang fails, nothing here is a claim about speed

STREAMER_UIDS = {
    "live": "binary_sensor", "viewers": "sensor", "likes": "sensor", "diamonds": "sensor",
    "follows": "sensor", "shares": "sensor", "gift": "event", "follow": "event",
    "share": "event", "subscribe": "event", "chat": "event", "send_message": "notify",
    "watching": "switch", "reconnect": "button", "status": "sensor",
}  # fmt: skip
BRIDGE_UIDS = {
    "connection": "binary_sensor", "version": "sensor", "streamers": "sensor",
    "restart_required": "binary_sensor", "health": "button",
}  # fmt: skip


def config_text(broker: Mosquitto, sim: TikTokSimulator, state_dir: Path, streamers: str) -> str:
    head = f"""\
        mqtt:
          server: {broker.url}
          base_topic: tiktok
          client_id: tiktok2mqtt-ha-e2e
        homeassistant:
          enabled: true
          rediscover_delay_s: 1
        tiktok:
          connection: sign_server
          live_poll_interval_s: 15
          calls_per_minute: 600
          heartbeat_interval_s: 1
          stale_after_s: 10
          endpoints: {sim.endpoints_yaml()}
          sign_server:
            url: {sim.endpoints.sign_server}
            api_key: ha-e2e-sign-key
            send_session: true
          session:
            session_id: ha-e2e-session
        logging:
          level: debug
        service:
          state_dir: {state_dir}
        streamers:
        """
    return textwrap.dedent(head) + textwrap.indent(textwrap.dedent(streamers), "  ")


STREAMER = f"""\
- user: {USER}
  chat_send: {{enabled: true, min_interval_s: 1, burst: 5}}
"""


LAMPS = ("studio_lamp", "on_air_lamp")  # what the example automations switch


async def add_test_lamps(broker: Mosquitto, lamps: tuple[str, ...] = LAMPS) -> None:
    """MQTT (JSON schema) lights, so the examples' light actions really run and their
    commands can be checked on the broker (``test/<lamp>/set``)."""
    import aiomqtt

    async with aiomqtt.Client(broker.host, broker.port) as client:
        for lamp in lamps:
            config = {
                "name": lamp.replace("_", " ").capitalize(),
                "unique_id": f"ha_e2e_{lamp}",
                "object_id": lamp,
                "schema": "json",
                "command_topic": f"test/{lamp}/set",
                "supported_color_modes": ["rgb"],
                "brightness": True,
            }
            topic = f"homeassistant/light/ha_e2e/{lamp}/config"
            await client.publish(topic, json.dumps(config), qos=1, retain=True)


class Daemon:
    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bridge", "run", "-c", str(config)],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def example_automations() -> list[dict[str, Any]]:
    """Every example automation of examples/home-assistant, as written there."""
    return [yaml.safe_load(p.read_text()) for p in sorted(EXAMPLES.glob("*.yaml"))]


async def wait(
    ha: HomeAssistant, entity_id: str, state: str | None = None, *,
    not_state: str | None = None, **attributes: Any,
) -> dict[str, Any]:  # fmt: skip
    return await ha.wait_state(
        entity_id, state, not_state=not_state, attributes=attributes, timeout_s=WAIT_S
    )


async def entity(ha: HomeAssistant, unique_id: str) -> dict[str, Any]:
    return await ha.find_entity(unique_id, timeout_s=WAIT_S)


async def triggered(ha: HomeAssistant, alias: str) -> str | None:
    last: str | None = (await ha.automations())[alias]["attributes"].get("last_triggered")
    return last


async def test_home_assistant_end_to_end(
    home_assistant: HomeAssistant,
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    daemon_log: Path,
) -> None:
    ha = home_assistant
    automations = example_automations()
    ha.write_automations(automations)

    room = simulator.add_user(USER, live=False)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text(mosquitto, simulator, tmp_path / "state", STREAMER))
    rec = await subscriber(mosquitto, ["homeassistant/#", "tiktok/#", "test/#"])
    await add_test_lamps(mosquitto)
    daemon = Daemon(cfg, daemon_log)
    timings: dict[str, float] = {}
    try:
        await rec.wait_for(f"homeassistant/device/{DEVICE}/config", timeout=WAIT_S)
        await rec.wait_for(f"tiktok/{USER}/state", lambda x: b"waiting_for_live" in x.payload)
        await ha.start()
        timings["start"] = ha.timings["ready"]
        await _scenario(ha, mosquitto, rec, room, simulator, automations, daemon, cfg, tmp_path)
        timings["restart"] = ha.timings["ready"]
    finally:
        daemon.stop()
        print("HA timings (s):", {k: round(v, 1) for k, v in timings.items()})


async def _scenario(
    ha: HomeAssistant,
    broker: Mosquitto,
    rec: MqttRecorder,
    room: Any,
    simulator: TikTokSimulator,
    automations: list[dict[str, Any]],
    daemon: Daemon,
    cfg: Path,
    tmp_path: Path,
) -> None:
    ids = await _check_registry(ha)
    await _check_automations_loaded(ha, [a["alias"] for a in automations])
    await _check_initial_states(ha, ids)

    await _check_status_reason(ha, simulator, ids)

    # Live: the HA "Reconnect" button makes the bridge look again at once (no 15 s poll).
    room.go_live()
    await ha.call_service("button.press", {"entity_id": ids["reconnect"]})
    live = await wait(ha, ids["live"], "on")
    assert live["attributes"]["device_class"] == "running"
    await wait(ha, ids["status"], "connected")
    assert await triggered(ha, "TikTok: on air lamp") is not None
    on_air = await rec.wait_for("test/on_air_lamp/set", lambda x: x.json()["state"] == "ON")
    assert on_air.json()["color"] == {"r": 255, "g": 0, "b": 0}

    room.push(m.viewers(150, 400))
    await wait(ha, ids["viewers"], "150", state_class="measurement")
    await _wait_triggered(ha, "TikTok: 100 viewers")

    # Gifts: the event entity fires with the tier as event_type; only big ones flash.
    fan = m.viewer("fan1", "Fan One")
    room.push(m.gift(fan, 9001, name="Pebble", diamonds=1, type=2))
    await wait(ha, ids["gift"], not_state="unknown", event_type="gift_small")
    assert await triggered(ha, "TikTok: flash the studio lamp on big gifts") is None
    room.push(m.gift(fan, 9002, name="Lion", diamonds=1500, type=2))
    gift = await wait(ha, ids["gift"], event_type="gift_large")
    assert gift["attributes"]["event_types"] == ["gift_small", "gift_medium", "gift_large"]
    assert gift["attributes"]["user"]["nickname"] == "Fan One"
    await _wait_triggered(ha, "TikTok: flash the studio lamp on big gifts")
    flash = (await rec.wait_for("test/studio_lamp/set")).json()
    assert (flash["flash"], flash["color"]) == (10, {"r": 255, "g": 0, "b": 200})
    assert len(rec.on("test/studio_lamp/set")) == 1  # the small gift did not flash it
    await wait(ha, ids["diamonds"], "1501", state_class="total_increasing")

    room.push(m.follow(fan))
    await wait(ha, ids["follow"], not_state="unknown", event_type="follow")
    await _wait_triggered(ha, "TikTok: announce new followers")
    await wait(ha, ids["follows"], "1")

    # notify.send_message → <base>/<user>/chat/send → bridge → simulator's sign server.
    await ha.call_service(
        "notify.send_message", {"entity_id": ids["send_message"], "message": "hi HA"}
    )
    await room.wait_for(lambda: any(c.content == "hi HA" for c in room.chats_sent))

    room.end()
    await wait(ha, ids["live"], "off")
    await rec.wait_for("test/on_air_lamp/set", lambda x: x.json()["state"] == "OFF")
    await wait(ha, ids["viewers"], "0")

    await _check_ha_restart(ha, rec, ids)
    await _check_removal_by_sighup(ha, broker, daemon, cfg, simulator, tmp_path)
    # HA silently drops a discovery config it cannot parse, but it logs why.
    problems = [
        line
        for line in ha.log_text().splitlines()
        if ("WARNING" in line or "ERROR" in line)
        and ("mqtt" in line or "automation" in line or "template" in line)
        # HA clears the retained config of a device it removed and then reads its own
        # empty message back: harmless, logged by every device removal.
        and "No device components to cleanup" not in line
    ]
    assert problems == [], "\n".join(problems)


async def _wait_triggered(ha: HomeAssistant, alias: str) -> None:
    async def poll() -> None:
        # HA has no push for this over REST; poll gently.
        while await triggered(ha, alias) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.25)

    await asyncio.wait_for(poll(), WAIT_S)


async def _check_registry(ha: HomeAssistant) -> dict[str, str]:
    """Every entity exists, on the right device, with the entity id discovery asked for."""
    ids: dict[str, str] = {}
    entries: dict[str, dict[str, Any]] = {}
    for key, platform in STREAMER_UIDS.items():
        entry = await entity(ha, f"{DEVICE}_{key}")
        assert entry["entity_id"] == f"{platform}.{DEVICE}_{key}"
        ids[key], entries[key] = entry["entity_id"], entry
    for key, platform in BRIDGE_UIDS.items():
        entry = await entity(ha, f"tiktok2mqtt_bridge_{key}")
        assert entry["entity_id"] == f"{platform}.tiktok2mqtt_bridge_{key}"
        ids[f"bridge_{key}"], entries[f"bridge_{key}"] = entry["entity_id"], entry
    registry = await ha.registry()
    devices = {d["id"]: d for d in registry["devices"]}
    streamer = devices[entries["live"]["device_id"]]
    bridge = devices[entries["bridge_version"]["device_id"]]
    assert streamer["identifiers"] == [["mqtt", DEVICE]]
    assert streamer["name"] == f"TikTok @{USER}"
    assert streamer["via_device_id"] == bridge["id"]
    assert bridge["identifiers"] == [["mqtt", "tiktok2mqtt_bridge"]]
    assert bridge["sw_version"] == __version__
    assert {entries[k]["device_id"] for k in STREAMER_UIDS} == {streamer["id"]}
    assert {entries[f"bridge_{k}"]["device_id"] for k in BRIDGE_UIDS} == {bridge["id"]}
    assert entries["chat"]["disabled_by"] == "integration"  # busy: off unless enabled
    assert entries["watching"]["entity_category"] == "config"
    assert entries["reconnect"]["entity_category"] == "diagnostic"
    assert entries["status"]["entity_category"] == "diagnostic"
    return ids


async def _check_automations_loaded(ha: HomeAssistant, aliases: list[str]) -> None:
    found = await ha.automations()
    for alias in aliases:
        assert alias in found, f"automation {alias!r} not loaded: {sorted(found)}"
        assert found[alias]["state"] == "on", found[alias]  # "unavailable" = invalid config


async def _check_initial_states(ha: HomeAssistant, ids: dict[str, str]) -> None:
    await wait(ha, ids["live"], "off")
    await wait(ha, ids["viewers"], "0")
    await wait(ha, ids["watching"], "on")
    await wait(ha, ids["status"], "waiting_for_live")
    await wait(ha, ids["likes"], "0", state_class="total_increasing")
    await wait(ha, ids["bridge_connection"], "on", device_class="connectivity")
    await wait(ha, ids["bridge_version"], __version__)
    await wait(ha, ids["bridge_streamers"], "1")
    await wait(ha, ids["bridge_restart_required"], "off")
    gift = await ha.state(ids["gift"])
    assert gift is not None and gift["state"] == "unknown"  # nothing fired yet
    assert gift["attributes"]["event_types"] == ["gift_small", "gift_medium", "gift_large"]


async def _check_status_reason(
    ha: HomeAssistant, simulator: TikTokSimulator, ids: dict[str, str]
) -> None:
    """The Status sensor says why a streamer cannot be watched, in words."""
    simulator.faults.captcha = True
    await ha.call_service("button.press", {"entity_id": ids["reconnect"]})
    status = await wait(ha, ids["status"], "blocked")
    assert status["attributes"]["reason"].startswith("TikTok blocked the request"), status
    await wait(ha, ids["live"], "unavailable")  # the streamer's other entities grey out
    await wait(ha, ids["reconnect"], not_state="unavailable")  # …but a retry stays possible
    simulator.faults.clear()
    await ha.call_service("button.press", {"entity_id": ids["reconnect"]})
    await wait(ha, ids["status"], "waiting_for_live", reason=None)
    await wait(ha, ids["live"], "off")


async def _check_ha_restart(ha: HomeAssistant, rec: MqttRecorder, ids: dict[str, str]) -> None:
    """HA restarts: its birth makes the bridge re-announce; entities come back with states."""
    await ha.stop()
    rec.clear()
    await ha.start()
    # Non-retained (live) re-publication after the birth = the bridge's re-announce.
    await rec.wait_for(
        f"homeassistant/device/{DEVICE}/config", lambda x: not x.retain, timeout=WAIT_S
    )
    await rec.wait_for(f"tiktok/{USER}/live", lambda x: not x.retain, timeout=WAIT_S)
    await wait(ha, ids["live"], "off")
    await wait(ha, ids["viewers"], "0")
    await wait(ha, ids["watching"], "on")
    await wait(ha, ids["status"], "waiting_for_live")
    await wait(ha, ids["bridge_connection"], "on")


async def _check_removal_by_sighup(
    ha: HomeAssistant,
    broker: Mosquitto,
    daemon: Daemon,
    cfg: Path,
    simulator: TikTokSimulator,
    tmp_path: Path,
) -> None:
    """Streamer removed from the file + SIGHUP: its HA device and entities disappear."""
    simulator.add_user("other_streamer", live=False)
    text = config_text(broker, simulator, tmp_path / "state", "- user: other_streamer\n")
    await asyncio.to_thread(cfg.write_text, text)
    daemon.proc.send_signal(signal.SIGHUP)
    await entity(ha, "tiktok_other_streamer_live")

    async def gone() -> None:
        while True:
            registry = await ha.registry()
            uids = {e["unique_id"] for e in registry["entities"]}
            devices = [d["identifiers"] for d in registry["devices"]]
            if [["mqtt", DEVICE]] not in devices:
                assert not any(u.startswith(f"{DEVICE}_") for u in uids), uids
                assert [["mqtt", "tiktok2mqtt_bridge"]] in devices  # the bridge stays
                return
            await asyncio.sleep(0.25)

    await asyncio.wait_for(gone(), WAIT_S)
    await wait(ha, "sensor.tiktok2mqtt_bridge_streamers", "1")
