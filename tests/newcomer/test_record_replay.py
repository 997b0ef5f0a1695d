"""Record a simulated session while bridging, replay the file: the same events reach MQTT."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
from pathlib import Path

from bridge.commands.demo import mqtt_from_url
from bridge.commands.record import record_session
from bridge.commands.replay import replay
from bridge.config import load_config_text
from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from bridge.tiktok.recording import Kind, read_recording
from tests.helpers.mosquitto import Mosquitto, MqttRecorder, Subscribe

REPO = Path(__file__).resolve().parents[2]
COMPARED = ("chat", "gift", "follow", "share")


def _config_text(sim: TikTokSimulator, broker: Mosquitto, state: Path) -> str:
    return f"""
mqtt: {{server: "{broker.url}", base_topic: live, client_id: recorder}}
homeassistant: {{enabled: false}}
tiktok:
  connection: direct
  endpoints: {sim.endpoints_yaml()}
streamers: [alice]
service: {{state_dir: "{state}"}}
"""


def _events(rec: MqttRecorder, base: str) -> set[tuple[str, str]]:
    found = set()
    for topic in COMPARED:
        for msg in rec.on(f"{base}/alice/{topic}"):
            found.add((msg.json()["type"], msg.json()["msg_id"]))
    return found


async def _record(sim: TikTokSimulator, broker: Mosquitto, tmp: Path, rec: MqttRecorder) -> Path:
    output = tmp / "alice.t2mr"
    config = load_config_text(_config_text(sim, broker, tmp), base_dir=tmp, env={})
    stop = asyncio.Event()
    task = asyncio.create_task(record_session(config, "alice", output, stop))
    room = sim.room("alice")
    await room.wait_entered(1, 20.0)
    bob = m.viewer("bob.two", "Bob")
    room.push(m.chat(bob, "hello 👋"), m.follow(m.viewer("ann"), 1))
    room.push(*m.gift_streak(bob, "Rose", 3))
    room.push(m.share(m.viewer("carol")))
    await rec.wait_for("live/alice/share")
    await rec.wait_for("live/alice/gift")
    stop.set()
    assert await task >= 3
    return output


async def test_recorded_events_come_back_on_replay(
    simulator: TikTokSimulator, mosquitto: Mosquitto, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, ["live/#", "again/#"])
    output = await _record(simulator, mosquitto, tmp_path, rec)
    recorded = _events(rec, "live")
    assert {t for t, _ in recorded} == set(COMPARED)

    recording = read_recording(output)
    assert recording.streamer == "alice"
    assert {r.kind for r in recording.records} <= {Kind.BATCH, Kind.FETCH_RESULT}
    mqtt = mqtt_from_url(mosquitto.url, base_topic="again", client_id="replayer")
    stats = await replay(recording, mqtt=mqtt, streamer="alice", speed=math.inf)

    assert stats.streams == 1 and stats.skipped == 0
    await rec.wait_for("again/alice/live", lambda msg: msg.text == "OFF")
    await rec.wait_count("again/alice/share", 1)
    assert _events(rec, "again") == recorded


def test_replay_of_a_missing_file_exits_65(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "replay", str(tmp_path / "nope.t2mr")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 65
    assert "nope.t2mr" in done.stderr
