"""`tiktok2mqtt demo` end to end: simulator → real bridge → a test mosquitto → live view."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.mosquitto import Mosquitto, Subscribe, free_port

REPO = Path(__file__).resolve().parents[2]
BASE = "tiktok-demo/sim_streamer"


def _closed() -> str:
    """An address where nothing listens (a port just found free)."""
    return f"mqtt://127.0.0.1:{free_port()}"


async def _run_cli(
    *args: str, within: float = 90.0, default: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run the CLI to its end. ``default``: the demo's default broker address (never the
    machine's localhost:1883; nothing listens there unless given)."""
    env = {
        **os.environ, "PYTHONPATH": str(REPO),
        "TIKTOK2MQTT_DEMO_MQTT": default or _closed(), **(env or {}),
    }  # fmt: skip
    proc = await _start_cli(*args, env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"`tiktok2mqtt {' '.join(args)}` did not end by itself") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _interruptible() -> None:
    # A job started in the background by a non-interactive shell inherits SIGINT ignored, and
    # Python then never raises KeyboardInterrupt: give the demo the terminal's default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def _start_cli(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.cli", *args,
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=_interruptible,
    )  # fmt: skip


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
    # Two of the kinds TikTok added since late 2025 (docs/protocol.md §8).
    fan = await rec.wait_for(f"{BASE}/super_fan")
    assert fan.json()["text"] == "João became a Super Fan"
    card = await rec.wait_for(f"{BASE}/battle", lambda m: m.json()["event_type"] == "battle_card")
    assert card.json()["card"]["kind"] in ("award", "critical_strike")
    ended = await rec.wait_for(f"{BASE}/stream", lambda m: m.json()["event_type"] == "ended")
    assert ended.json()["streamer"] == "sim_streamer"
    await rec.wait_for("tiktok-demo/bridge/state", lambda m: m.text == "offline")
    # The live view printed what the broker delivered, readable and without colour codes.
    assert f"{BASE}/gift" in out and " sent " in out
    assert "João became a Super Fan" in out
    assert "\033[" not in out
    assert "messages received" in out


async def test_demo_with_mqtt_and_no_broker_there_fails_fast_with_a_hint() -> None:
    # --mqtt names the broker to use: no private one instead.
    code, out, err = await _run_cli("demo", "--mqtt", _closed(), "--broker-timeout", "2", within=30)

    assert code == 69
    assert "No MQTT broker answers" in err
    assert "sudo apt install mosquitto" in err and "eclipse-mosquitto" in err
    assert out == ""


async def test_demo_rejects_a_url_that_is_not_mqtt() -> None:
    code, _, err = await _run_cli("demo", "--mqtt", "http://localhost:1883", within=30)

    assert code == 2
    assert "not an MQTT URL" in err


# ---------------------------------------------------------------- the default address (issue 18)

NOTE = re.compile(
    r"-- no MQTT broker answers at 127\.0\.0\.1:\d+ \(connection refused\): "
    r"started a private (?P<name>.+) on 127\.0\.0\.1:(?P<port>\d+) for this run"
)
LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}  (?P<topic>tiktok-demo/\S+)\s+(?P<text>.*)$", re.M)


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _closes(port: int, *, within_s: float) -> bool:
    for _ in range(int(within_s / 0.05)):
        if not _accepts(port):
            return True
        await asyncio.sleep(0.05)
    return False


def _played_the_session(out: str) -> None:
    """The view printed the session as the broker delivered it: live, chat, gift, end."""
    seen = [(m["topic"], m["text"]) for m in LINE.finditer(out)]
    assert (f"{BASE}/live", "ON") in seen and (f"{BASE}/live", "OFF") in seen
    assert any(t == f"{BASE}/gift" and " sent " in text for t, text in seen)
    assert any(t == f"{BASE}/chat" for t, _ in seen)
    assert ("tiktok-demo/bridge/state", "offline") in seen
    assert "messages received" in out


async def test_demo_uses_a_broker_that_answers_at_the_default_address(
    mosquitto: Mosquitto, subscriber: Subscribe
) -> None:
    rec = await subscriber(mosquitto, "tiktok-demo/#")
    code, out, err = await _run_cli("demo", "--speed", "40", "--no-color", default=mosquitto.url)

    assert code == 0, err
    await rec.wait_for(f"{BASE}/live", lambda m: m.text == "ON")
    await rec.wait_for(f"{BASE}/gift")
    _played_the_session(out)
    assert "private" not in out
    assert f"mosquitto_sub -h 127.0.0.1 -p {mosquitto.port} -t 'tiktok-demo/#'" in out


@pytest.mark.parametrize(
    ("kind", "name"), [("mosquitto", "mosquitto"), ("embedded", "embedded amqtt broker")]
)
async def test_demo_without_a_broker_plays_the_session_on_a_private_one(
    kind: str, name: str
) -> None:
    code, out, err = await _run_cli(
        "demo", "--speed", "40", "--no-color", "--private-broker", kind, "--discovery"
    )

    assert code == 0, err
    note = NOTE.search(out)
    assert note is not None, out
    assert note["name"] == name
    _played_the_session(out)
    assert "--discovery: Home Assistant cannot reach this private broker" in out
    assert f"The private {name} stopped with the demo." in out
    assert "Watch them yourself" not in out  # nothing left to watch
    assert not _accepts(int(note["port"])), "the private broker outlived the demo"


async def test_quiet_demo_still_says_where_its_messages_went() -> None:
    code, out, err = await _run_cli("demo", "--speed", "40", "--quiet")

    assert code == 0, err
    assert NOTE.search(out) is not None
    assert LINE.search(out) is None  # no live view
    assert "messages received" in out


async def test_demo_says_how_to_get_a_broker_when_it_cannot_start_one(tmp_path: Path) -> None:
    # amqtt hidden: an importable package of that name that fails like a missing one.
    (tmp_path / "amqtt").mkdir()
    (tmp_path / "amqtt" / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    code, out, err = await _run_cli("demo", "--private-broker", "embedded", env=env, within=30)

    assert code == 69
    assert "No MQTT broker answers" in err and "sudo apt install mosquitto" in err
    assert "pip install 'tiktok2mqtt[demo]'" in err
    assert out == ""


async def test_demo_with_a_password_broker_via_mqtt(
    mosquitto_factory: Callable[..., Mosquitto], subscriber: Subscribe
) -> None:
    broker = mosquitto_factory(users={"demo": "s3cret"}, allow_anonymous=False)
    rec = await subscriber(broker, "tiktok-demo/#", username="demo", password="s3cret")
    url = f"mqtt://demo:s3cret@127.0.0.1:{broker.port}"
    code, out, err = await _run_cli("demo", "--mqtt", url, "--speed", "40", "--no-color")

    assert code == 0, err
    await rec.wait_for(f"{BASE}/live", lambda m: m.text == "OFF")
    await rec.wait_for(f"{BASE}/gift")
    _played_the_session(out)
    assert "private" not in out
    assert "s3cret" not in out + err

    # A wrong password is that broker's answer: a hint, not a private broker instead.
    wrong = f"mqtt://demo:wrong@127.0.0.1:{broker.port}"
    code, out, err = await _run_cli("demo", "--mqtt", wrong, "--broker-timeout", "2", within=30)
    assert code == 69
    assert "No MQTT broker answers" in err and "wrong" not in err


@pytest.mark.parametrize(
    ("kind", "sig", "exit_code"),
    [
        ("mosquitto", signal.SIGINT, 130),
        ("mosquitto", signal.SIGTERM, 143),
        ("mosquitto", signal.SIGKILL, -signal.SIGKILL),
        ("embedded", signal.SIGINT, 130),
    ],
)
async def test_the_private_broker_stops_with_the_demo_however_it_ends(
    kind: str, sig: signal.Signals, exit_code: int
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TIKTOK2MQTT_DEMO_MQTT": _closed()}
    proc = await _start_cli(
        "demo", "--forever", "--speed", "10", "--no-color", "--private-broker", kind, env=env
    )
    assert proc.stdout is not None
    seen = ""
    try:
        async with asyncio.timeout(60):
            while "tiktok-demo/sim_streamer/live" not in seen:  # the broker carries the show
                line = await proc.stdout.readline()
                assert line, f"the demo ended early: {seen}"
                seen += line.decode()
        note = NOTE.search(seen)
        assert note is not None, seen
        proc.send_signal(sig)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert proc.returncode == exit_code
    if sig != signal.SIGKILL:  # stopped in order: the bridge said goodbye through the broker
        assert LINE.search(rest.decode()) is not None
        assert "tiktok-demo/bridge/state           offline" in rest.decode()
    # After kill -9 the broker's guard notices the demo is gone and stops it.
    assert await _closes(int(note["port"]), within_s=10), "the private broker outlived the demo"


# ------------------------------------------------------------------ retained leftovers (issue 12)


async def test_a_second_run_does_not_count_retained_leftovers_of_the_first(
    mosquitto: Mosquitto,
) -> None:
    args = ("demo", "--mqtt", mosquitto.url, "--speed", "40", "--no-color")
    runs = [await _run_cli(*args), await _run_cli(*args)]

    for code, _, err in runs:
        assert code == 0, err
    (_, first, _), (_, second, _) = runs
    for out in (first, second):
        lines = [m[0] for m in LINE.finditer(out)]
        fresh = [line for line in lines if "(retained, from before)" not in line]
        summary = re.search(r"^(\d+) messages received", out, re.M)
        assert summary is not None
        assert int(summary[1]) == len(fresh)  # the summary counts this run's messages only
    assert "(retained, from before)" not in first and "earlier run" not in first
    leftovers = second.count("(retained, from before)")
    assert leftovers > 0  # the first run's state, shown as what it is
    assert f"; {leftovers} retained from an earlier run not counted." in second
