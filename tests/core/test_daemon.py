"""The daemon as a process: `python -m bridge run -c cfg.yaml` — exit codes, signals, LWT,
systemd notify messages, SIGHUP reload, secrets never logged or published."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from google.protobuf.internal import api_implementation

from bridge.sim import TikTokSimulator
from bridge.sim import messages as sm
from tests.core.support import MQTT_PASSWORD, SECRETS, SESSION_ID, SIGN_KEY, config_yaml
from tests.helpers.mosquitto import Mosquitto, Subscribe
from tests.helpers.paths import REPO

USER = "bridge"
SECRET_TIKTOK = f"""\
sign_server:
  api_key: {SIGN_KEY}
session:
  session_id: {SESSION_ID}
"""


class Daemon:
    def __init__(self, config: Path, log: Path, env: dict[str, str]) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "-c", str(config)],
            cwd=REPO,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    async def wait(self, timeout: float = 20.0) -> int:  # noqa: ASYNC109
        code = await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout)
        self._log_file.close()
        return code

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log_file.close()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    daemons: list[Daemon] = []

    def start(
        config: Path, *, notify_socket: str | None = None, extra_env: dict[str, str] | None = None
    ) -> Daemon:
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        env["PYTHONPATH"] = str(REPO)
        env.update(extra_env or {})
        if notify_socket:
            env["NOTIFY_SOCKET"] = notify_socket
            env["WATCHDOG_USEC"] = "2000000"
        daemon = Daemon(config, tmp_path / f"daemon{len(daemons)}.log", env)
        daemons.append(daemon)
        return daemon

    try:
        yield start
    finally:
        for daemon in daemons:
            daemon.stop()


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.messages: list[str] = []

    async def wait_for(self, predicate: Callable[[str], bool], timeout: float = 15.0) -> str:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()

        async def read() -> str:
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                data = await loop.sock_recv(self.sock, 4096)
                self.messages.append(data.decode())

        return await asyncio.wait_for(read(), timeout)


@pytest_asyncio.fixture
async def notify(tmp_path: Path) -> AsyncIterator[NotifySocket]:
    ns = NotifySocket(tmp_path / "notify.sock")
    yield ns
    ns.sock.close()


def write_config(
    tmp_path: Path, broker: Mosquitto, sim: TikTokSimulator, streamers: str, **kw: object
) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(config_yaml(broker, sim, tmp_path / "state", streamers, **kw))  # type: ignore[arg-type]
    return path


def test_invalid_config_exits_78(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("mqtt:\n  server: 5\n  bogus: 1\nstreamers: [bad name!]\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", "run", "-c", str(cfg)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 78
    assert "Refusing to start" in proc.stderr
    assert "mqtt.bogus" in proc.stderr and "streamers" in proc.stderr  # every problem listed


async def test_notify_ready_before_broker_then_sigterm(
    mosquitto_factory: Callable[..., Mosquitto],
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    daemon_factory: Callable[..., Daemon],
    notify: NotifySocket,
    tmp_path: Path,
) -> None:
    broker = mosquitto_factory(users={USER: MQTT_PASSWORD}, allow_anonymous=False)
    broker.stop()  # the Pi booted before its broker
    simulator.add_user("alice", live=True)
    cfg = write_config(
        tmp_path, broker, simulator, "- alice\n", extra_tiktok=SECRET_TIKTOK, mqtt_password=True
    )
    daemon = daemon_factory(cfg, notify_socket=notify.path)
    await notify.wait_for(lambda s: s == "READY=1")
    status = await notify.wait_for(lambda s: s.startswith("STATUS="))
    await notify.wait_for(lambda s: s == "WATCHDOG=1")
    assert "waiting for broker" in status
    broker.start()
    rec = await subscriber(broker, "#", username=USER, password=MQTT_PASSWORD)
    await rec.wait_for("tiktok/bridge/state", lambda x: x.text == "online", timeout=30)
    await rec.wait_for("tiktok/alice/state", lambda x: x.json()["status"] == "connected")
    await notify.wait_for(lambda s: s.startswith("STATUS=") and "broker connected" in s, 20)
    daemon.signal(signal.SIGTERM)
    assert await daemon.wait() == 0
    await rec.wait_for("tiktok/bridge/state", lambda x: x.text == "offline")
    await notify.wait_for(lambda s: s == "STOPPING=1")
    assert notify.messages.index("READY=1") < notify.messages.index("STOPPING=1")
    # Secrets: in no log line, in no published payload (bridge/info shows them as ***).
    log_text = daemon.text()
    assert "tiktok2mqtt stopped" in log_text
    for secret in SECRETS:
        assert secret not in log_text
        assert all(secret.encode() not in x.payload for x in rec.messages)
    info = await rec.wait_for("tiktok/bridge/info")
    assert info.json()["config"]["mqtt"]["password"] == "***"
    # The suite's own protobuf (compiled upb from the wheel): no warning.
    assert info.json()["protobuf"]["implementation"] == api_implementation.Type()
    assert "warning" not in info.json()["protobuf"]
    assert f"({api_implementation.Type()})" in log_text


async def test_pure_python_protobuf_is_logged_and_in_bridge_info(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    daemon_factory: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    # What a 32-bit Raspberry Pi OS gets from pip (no armv7 wheel): docs/install-systemd.md.
    room = simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = write_config(tmp_path, mosquitto, simulator, "- alice\n")
    daemon = daemon_factory(cfg, extra_env={"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"})
    info = (await rec.wait_for("tiktok/bridge/info")).json()
    assert info["protobuf"]["implementation"] == "python"
    assert "pure Python" in info["protobuf"]["warning"]
    # It decodes on the pure-Python runtime too (the golden values: tests/events).
    await rec.wait_for("tiktok/alice/state", lambda x: x.json()["status"] == "connected")
    room.push(sm.member("hal"), sm.chat("ann", "hello 👋"), sm.viewers(812, 2000))
    chat = await rec.wait_for("tiktok/alice/chat")
    assert chat.json()["text"] == "hello 👋" and chat.json()["user"]["unique_id"] == "ann"
    await rec.wait_for("tiktok/alice/viewers", lambda x: x.payload == b"812")
    daemon.signal(signal.SIGTERM)
    assert await daemon.wait() == 0
    log_text = daemon.text()
    assert "(python)" in log_text and "WARNING" in log_text and "pure Python" in log_text


async def test_kill_9_leaves_the_will(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    daemon_factory: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    simulator.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    daemon = daemon_factory(write_config(tmp_path, mosquitto, simulator, "- alice\n"))
    await rec.wait_for("tiktok/bridge/state", lambda x: x.text == "online", timeout=30)
    await rec.wait_for("tiktok/alice/live", lambda x: x.text == "ON")
    daemon.signal(signal.SIGKILL)
    assert await daemon.wait() == -signal.SIGKILL
    await rec.wait_for("tiktok/bridge/state", lambda x: x.text == "offline")
    # A late subscriber sees the retained Will.
    late = await subscriber(mosquitto, "tiktok/bridge/state")
    assert (await late.wait_for("tiktok/bridge/state")).retain


async def test_sighup_reload(
    mosquitto: Mosquitto,
    simulator: TikTokSimulator,
    subscriber: Subscribe,
    daemon_factory: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    simulator.add_user("alice", live=True)
    simulator.add_user("bob", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = write_config(tmp_path, mosquitto, simulator, "- alice\n")
    daemon = daemon_factory(cfg)
    await rec.wait_for("tiktok/alice/state", lambda x: x.json()["status"] == "connected", 30)
    good = cfg.read_text()
    cfg.write_text(good.replace("  - alice\n", "  - bob\n"))
    daemon.signal(signal.SIGHUP)
    await rec.wait_for("tiktok/bob/state", lambda x: x.json()["status"] == "connected")
    await rec.wait_for("tiktok/bridge/info", lambda x: x.json()["streamers"] == ["bob"])
    await rec.wait_for("tiktok/alice/availability", lambda x: x.text == "offline")
    # An invalid file is refused; the daemon keeps running with what it has.
    cfg.write_text(good.replace("server:", "server: 12\n  nonsense:"))
    daemon.signal(signal.SIGHUP)
    async with asyncio.timeout(20):  # the refusal is logged: the reload was handled
        while "reload refused" not in daemon.text():  # noqa: ASYNC110 - a log file
            await asyncio.sleep(0.05)
    assert daemon.proc.poll() is None
    daemon.signal(signal.SIGTERM)
    assert await daemon.wait() == 0
    assert "reload refused" in daemon.text()
    kinds = [x.json()["type"] for x in rec.on("tiktok/bridge/event")]
    assert "streamer_added" in kinds and "streamer_removed" in kinds
