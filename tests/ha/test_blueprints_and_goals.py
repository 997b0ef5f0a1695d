"""The blueprints and the goal/leaderboard entities in a REAL Home Assistant (``-m ha``).

Each blueprint of blueprints/automation/tiktok2mqtt/ is saved through HA's blueprint API,
an automation is made from it through the automation editor API, and the daemon (a process),
fed by the TikTok simulator, makes it fire:

* gift above N diamonds → an MQTT light the test made gets a flash command;
* live → the on-air lamp turns on, stream end → off;
* a chat command → ``tts.speak`` on a real TTS entity (google_translate, which needs the
  internet only when audio is fetched) to a universal media player whose ``play_media`` is a
  script writing a persistent notification: the message HA would speak is read back there;
* likes reach the goal → the scene turns on, once from the likes sensor
  (like_goal_scene.yaml) and once from the bridge's goal event (goal_reached_scene.yaml).

The goal entities: the number sets the bridge's goal (seen on MQTT), the progress sensor and
its attributes follow, the event fires once, the top-gifters sensor holds the board.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from tests.ha.harness import HomeAssistant
from tests.ha.test_home_assistant import WAIT_S, Daemon, add_test_lamps, config_text, wait
from tests.helpers.mosquitto import Mosquitto, MqttRecorder, Subscribe
from tests.helpers.paths import REPO

pytestmark = [pytest.mark.ha, pytest.mark.timeout(600)]

USER = "goal_streamer"
PREFIX = f"tiktok_{USER}"
BLUEPRINTS = REPO / "blueprints" / "automation" / "tiktok2mqtt"
LAMPS = ("gift_lamp", "air_lamp")
STREAMER = f"- user: {USER}\n  like_window_ms: 0\n  leaderboard_size: 3\n"

PACKAGE = {
    "input_boolean": {"like_party": {"initial": False}, "goal_party": {"initial": False}},
    "scene": [
        {"name": "Like party", "entities": {"input_boolean.like_party": "on"}},
        {"name": "Goal party", "entities": {"input_boolean.goal_party": "on"}},
    ],
    # A speaker for tts.speak: its play_media shows what would be played.
    "media_player": [{
        "platform": "universal", "name": "Test speaker",
        "commands": {"play_media": {
            "action": "persistent_notification.create",
            # one notification per call: a second message would not replace the first
            "data": {"notification_id": "spoken_{{ as_timestamp(now()) }}",
                     "message": "{{ media_content_id }}"},
        }},
    }],
}  # fmt: skip


def automations(tts: str) -> dict[str, dict[str, Any]]:
    """Blueprint file → the automation made from it (the inputs a user would pick)."""
    return {
        "gift_flash_light.yaml": {
            "gift_event": f"event.{PREFIX}_gift", "min_diamonds": 100,
            "light": {"entity_id": "light.gift_lamp"}, "flash": "short", "color": [0, 0, 255],
        },
        "on_air_lamp.yaml": {
            "live_sensor": f"binary_sensor.{PREFIX}_live", "lamp": "light.air_lamp",
            "color": [255, 0, 0], "brightness": 60,
        },
        "chat_command_tts.yaml": {
            "streamer": f"@{USER}", "tts_entity": tts, "media_player": "media_player.test_speaker",
            "cooldown": 0,
        },
        "like_goal_scene.yaml": {
            "counter": f"sensor.{PREFIX}_likes", "goal": 100, "scene": "scene.like_party",
        },
        "goal_reached_scene.yaml": {
            "goal_event": f"event.{PREFIX}_goal_reached", "goals": ["likes"],
            "scene": "scene.goal_party",
        },
    }  # fmt: skip


async def test_blueprints_fire_and_goal_entities_work(
    home_assistant: HomeAssistant,
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    tmp_path: Path,
    daemon_log: Path,
) -> None:
    ha = home_assistant
    ha.write_package("blueprint_targets", PACKAGE)
    room = simulator.add_user(USER, live=False)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text(mosquitto, simulator, tmp_path / "state", STREAMER))
    rec = await subscriber(mosquitto, ["tiktok/#", "test/#"])
    await add_test_lamps(mosquitto, LAMPS)
    daemon = Daemon(cfg, daemon_log)
    timings: dict[str, float] = {}
    try:
        await rec.wait_for(f"tiktok/{USER}/goals", timeout=WAIT_S)
        await ha.start()
        timings["ha_start"] = ha.timings["ready"]
        started = time.monotonic()
        tts = await _tts_engine(ha)
        for name, inputs in automations(tts).items():
            await _automation_from_blueprint(ha, name, inputs)
        timings["blueprints_loaded"] = time.monotonic() - started
        started = time.monotonic()
        await _scenario(ha, rec, room)
        timings["scenario"] = time.monotonic() - started
        _no_problems_logged(ha)
    finally:
        daemon.stop()
        print("HA timings (s):", {k: round(v, 1) for k, v in timings.items()})


async def _tts_engine(ha: HomeAssistant) -> str:
    await ha.add_config_entry("google_translate", {"language": "en", "tld": "com"})
    for _ in range(int(WAIT_S / 0.25)):
        found = [s["entity_id"] for s in await ha.states() if s["entity_id"].startswith("tts.")]
        if found:
            return found[0]
        await asyncio.sleep(0.25)
    raise AssertionError("no TTS entity")


async def _automation_from_blueprint(ha: HomeAssistant, name: str, inputs: dict[str, Any]) -> None:
    path = f"tiktok2mqtt/{name}"
    await ha.save_blueprint("automation", path, (BLUEPRINTS / name).read_text())
    stem = name.removesuffix(".yaml")
    entity_id = await ha.add_automation({
        "id": f"bp_{stem}", "alias": f"bp {stem}",
        "use_blueprint": {"path": path, "input": inputs},
    })  # fmt: skip
    await wait(ha, entity_id, "on")  # "unavailable": HA refused the blueprint or its inputs


async def _triggered(ha: HomeAssistant, stem: str) -> str | None:
    state = (await ha.automations())[f"bp {stem}"]
    last: str | None = state["attributes"].get("last_triggered")
    return last


async def _spoken(ha: HomeAssistant) -> list[str]:
    """Messages the TTS engine was asked to speak on the test speaker."""
    out = []
    for note in await ha.notifications():
        if str(note.get("notification_id")).startswith("spoken_"):
            query = parse_qs(urlsplit(note["message"].removeprefix("media-source://")).query)
            out += query.get("message", [])
    return out


async def _scenario(ha: HomeAssistant, rec: MqttRecorder, room: Any) -> None:
    ids = {key: (await ha.find_entity(f"{PREFIX}_{key}", timeout_s=WAIT_S))["entity_id"]
           for key in ("like_goal", "like_progress", "goal_reached", "top_gifters",
                       "reset_leaderboard", "reconnect", "live")}  # fmt: skip
    assert ids["like_goal"] == f"number.{PREFIX}_like_goal"

    # The number sets the bridge's goal: HA → goals/set → retained goals JSON → HA.
    await wait(ha, ids["like_goal"], "0")
    await wait(ha, ids["like_progress"], "unknown")  # no goal: no percentage
    await ha.call_service("number.set_value", {"entity_id": ids["like_goal"], "value": 100})
    await rec.wait_for(f"tiktok/{USER}/goals", lambda x: x.json()["likes"]["target"] == 100)
    await wait(ha, ids["like_goal"], "100")
    await wait(ha, ids["like_progress"], "0.0", target=100, reached=False)

    # Live → on-air lamp on (red, 60 %).
    room.go_live()
    await ha.call_service("button.press", {"entity_id": ids["reconnect"]})
    await wait(ha, ids["live"], "on")
    on = await rec.wait_for("test/air_lamp/set", lambda x: x.json()["state"] == "ON")
    assert on.json()["color"] == {"r": 255, "g": 0, "b": 0}

    # Gifts: only the big one flashes the gift lamp; both count for the top gifters.
    fan, big = m.viewer("fan1", "Fan One"), m.viewer("fan2", "Big Fan")
    room.push(m.gift(fan, 9001, name="Pebble", diamonds=5, type=2))
    await wait(ha, f"event.{PREFIX}_gift", not_state="unknown", event_type="gift_small")
    room.push(m.gift(big, 9002, name="Lion", diamonds=1500, type=2))
    flash = (await rec.wait_for("test/gift_lamp/set", timeout=WAIT_S)).json()
    assert (flash["flash"], flash["color"]) == (2, {"r": 0, "g": 0, "b": 255})  # short, blue
    assert len(rec.on("test/gift_lamp/set")) == 1
    board = await wait(ha, ids["top_gifters"], "Big Fan")
    assert [(g["nickname"], g["diamonds"]) for g in board["attributes"]["top"]] == [
        ("Big Fan", 1500), ("Fan One", 5),
    ]  # fmt: skip
    assert board["attributes"]["top"][0]["user_id"] == str(big.id)

    # Chat command → tts.speak with the text after "!say".
    room.push(m.chat(fan, "hello there"), m.chat(fan, "!say hello everyone"))
    for _ in range(int(WAIT_S / 0.25)):
        if await _spoken(ha):
            break
        await asyncio.sleep(0.25)
    assert await _spoken(ha) == ["Fan One says: hello everyone"]

    # Likes reach the goal: both goal blueprints turn their scene on; the event fires once.
    assert await _triggered(ha, "goal_reached_scene") is None
    room.push(m.like(fan, 15, total=60))
    await wait(ha, ids["like_progress"], "60.0")
    room.push(m.like(fan, 15, total=120))
    await wait(ha, "input_boolean.like_party", "on")
    await wait(ha, "input_boolean.goal_party", "on")
    event = await wait(ha, ids["goal_reached"], not_state="unknown", event_type="likes")
    assert (event["attributes"]["target"], event["attributes"]["value"]) == (100, 120)
    assert event["attributes"]["user"]["nickname"] == "Fan One"
    progress = await wait(ha, ids["like_progress"], "100.0", reached=True)
    assert progress["attributes"]["reached_at"]
    room.push(m.like(fan, 15, total=500))
    await wait(ha, f"sensor.{PREFIX}_likes", "500")
    await wait(ha, ids["goal_reached"], event["state"])  # no second event
    assert len(rec.on(f"tiktok/{USER}/goal")) == 1

    # The board is reset from HA; the stream ends: the lamp goes off.
    await ha.call_service("button.press", {"entity_id": ids["reset_leaderboard"]})
    cleared = await wait(ha, ids["top_gifters"], "unknown")
    assert cleared["attributes"]["top"] == []
    room.end()
    await wait(ha, ids["live"], "off")
    await rec.wait_for("test/air_lamp/set", lambda x: x.json()["state"] == "OFF")


LOGGERS = ("mqtt", "automation", "template", "blueprint", "tts", "universal", "scene")


def _no_problems_logged(ha: HomeAssistant) -> None:
    # HA silently drops what it cannot use, but logs why.
    problems = [
        line
        for line in ha.log_text().splitlines()
        if ("WARNING" in line or "ERROR" in line) and any(w in line for w in LOGGERS)
    ]
    assert problems == [], "\n".join(problems)
