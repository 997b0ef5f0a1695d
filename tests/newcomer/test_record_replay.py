"""Record a simulated session while bridging, replay the file: the same events reach MQTT."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from bridge.commands.demo import mqtt_from_url
from bridge.commands.record import record_session, recording_config
from bridge.commands.replay import replay
from bridge.config import load_config_text
from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from bridge.tiktok.pb import webcast_pb2 as pb
from bridge.tiktok.recording import Kind, RecordingWriter, read_recording
from tests.helpers.mosquitto import Mosquitto, MqttRecorder, Subscribe, free_port

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
    assert (await task).count >= 3
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


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_replay_of_an_empty_or_foreign_file_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty.t2mr"
    RecordingWriter(empty, {"streamer": "alice"}).close()  # a header, no record
    foreign = tmp_path / "notes.t2mr"
    foreign.write_text("these are my notes, not a recording\n")
    for path, says in ((empty, "nothing to replay"), (foreign, "neither a tiktok2mqtt recording")):
        done = _cli("replay", str(path), "--fast")
        assert done.returncode == 65, done.stderr
        assert says in done.stderr and "Traceback" not in done.stderr


def test_record_of_an_unreachable_streamer_fails_and_says_why(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    (tmp_path / "config.yaml").write_text(
        f"mqtt: {{server: '{mosquitto.url}', base_topic: rec, client_id: recorder}}\n"
        f"tiktok: {{connection: direct, endpoints: {{www: '{closed}', webcast: '{closed}'}}}}\n"
        "streamers: [alice]\n"
    )
    output = tmp_path / "bob.t2mr"
    done = _cli("record", "bob", "-o", str(output), "-c", "config.yaml", "--duration", "2",
                cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "nothing recorded, no file written: @bob could not be watched (error): " in done.stderr
    assert "cannot reach TikTok: connection refused" in done.stderr
    assert not output.exists()
    assert "alice" not in done.stderr  # only the named streamer is watched


async def test_record_watches_only_the_named_streamer(
    simulator: TikTokSimulator, mosquitto: Mosquitto, subscriber: Subscribe, tmp_path: Path
) -> None:
    simulator.add_user("alice", live=True)
    simulator.add_user("carol", live=True)
    rec = await subscriber(mosquitto, ["live/#", "homeassistant/#"])
    text = (
        _config_text(simulator, mosquitto, tmp_path)
        .replace("streamers: [alice]", "streamers: [alice, carol]")
        .replace("homeassistant: {enabled: false}", "homeassistant: {enabled: true}")
    )
    config = load_config_text(text, base_dir=tmp_path, env={})
    stop = asyncio.Event()
    task = asyncio.create_task(record_session(config, "alice", tmp_path / "a.t2mr", stop))
    await simulator.room("alice").wait_entered(1, 20.0)
    simulator.room("alice").push(m.chat("ann", "hi"))
    await rec.wait_for("live/alice/chat")
    stop.set()
    result = await task
    assert result.count >= 1 and (result.status, result.reason) == ("connected", None)
    watched = recording_config(config, "alice", tmp_path / "scratch")
    assert [s.user for s in watched.streamers] == ["alice"]
    assert not watched.homeassistant.enabled and watched.service.state_dir != tmp_path
    assert rec.on("live/carol/#") == []  # carol is the daemon's business, not the recorder's
    assert rec.on("homeassistant/#") == []  # discovery too: no device added or removed
    assert not (tmp_path / "runtime.json").exists()


def test_decode_reads_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "r.t2mr"
    room_id = 7300000000000000001
    with RecordingWriter(path, {"streamer": "alice"}) as writer:
        batch = pb.FetchResult()
        for method, payload in (m.chat("ann", "hello"), m.follow("fay")):
            batch.messages.add(method=method, payload=m.bind_room(method, payload, room_id))
        writer.write(Kind.BATCH, batch.SerializeToString(), t_us=1_000_000)
        writer.write(Kind.BATCH, b"\xff\xff not protobuf", t_us=2_000_000)
    done = _cli("decode", str(path), "--stats")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["type"] for e in events] == ["chat", "follow"]
    assert events[0]["text"] == "hello" and events[0]["room_id"] == str(room_id)
    assert "bad=1" in done.stderr
