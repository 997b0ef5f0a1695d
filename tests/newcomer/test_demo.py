"""`tiktok2mqtt demo` end to end: simulator → real bridge → a test mosquitto → live view."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.helpers.mosquitto import Mosquitto, Subscribe, free_port

REPO = Path(__file__).resolve().parents[2]
BASE = "tiktok-demo/sim_streamer"


async def _run_cli(*args: str, within: float = 90.0) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.cli", *args,
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"`tiktok2mqtt {' '.join(args)}` did not end by itself") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("mode", ["direct", "sign_server"])
async def test_demo_publishes_the_session_and_exits_by_itself(
    mosquitto: Mosquitto, subscriber: Subscribe, mode: str
) -> None:
    rec = await subscriber(mosquitto, "tiktok-demo/#")
    code, out, err = await _run_cli(
        "demo", "--mqtt", mosquitto.url, "--speed", "40", "--no-color", "--mode", mode
    )

    assert code == 0, err
    await rec.wait_for(f"{BASE}/live", lambda m: m.text == "ON")
    await rec.wait_for(f"{BASE}/live", lambda m: m.text == "OFF")
    chat = await rec.wait_for(f"{BASE}/chat")
    assert chat.json()["type"] == "chat" and not chat.retain
    gift = await rec.wait_for(f"{BASE}/gift")
    assert gift.json()["event_type"] in ("gift_small", "gift_medium", "gift_large")
    ended = await rec.wait_for(f"{BASE}/stream", lambda m: m.json()["event_type"] == "ended")
    assert ended.json()["streamer"] == "sim_streamer"
    await rec.wait_for("tiktok-demo/bridge/state", lambda m: m.text == "offline")
    # The live view printed what the broker delivered, readable and without colour codes.
    assert f"{BASE}/gift" in out and " sent " in out
    assert "\033[" not in out
    assert "messages received" in out


async def test_demo_without_a_broker_fails_fast_with_a_hint() -> None:
    nothing = f"mqtt://127.0.0.1:{free_port()}"
    code, out, err = await _run_cli("demo", "--mqtt", nothing, "--broker-timeout", "2", within=30)

    assert code == 69
    assert "No MQTT broker answers" in err
    assert "sudo apt install mosquitto" in err and "eclipse-mosquitto" in err
    assert out == ""


async def test_demo_rejects_a_url_that_is_not_mqtt() -> None:
    code, _, err = await _run_cli("demo", "--mqtt", "http://localhost:1883", within=30)

    assert code == 2
    assert "not an MQTT URL" in err
