"""The processes of the system benches: mosquitto, the daemon, the MQTT subscriber.

Each runs as its own OS process so that psutil measures exactly one of them and the
clocks compared for latency are the machine's one wall clock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge.settings.tiktok import Endpoints

REPO = Path(__file__).resolve().parent.parent
BASE_TOPIC = "bench"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def mosquitto_binary() -> str:
    for candidate in ("/usr/sbin/mosquitto", shutil.which("mosquitto")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("mosquitto binary not found (apt install mosquitto)")


@contextlib.contextmanager
def mosquitto(workdir: Path) -> Iterator[int]:
    """A private broker on a free loopback port; yields the port."""
    port = free_port()
    conf = workdir / "mosquitto.conf"
    # max_queued_messages 0: the broker must never be the one dropping QoS 0 events
    # under a burst; loss measured here is the bridge's.
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\nset_tcp_nodelay true\nlog_type error\n"
    )
    proc = subprocess.Popen(
        [mosquitto_binary(), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _accepts(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not start")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def config_text(
    broker_port: int,
    endpoints: Endpoints,
    users: Sequence[str],
    state_dir: Path,
    *,
    poll_s: float = 15,
) -> str:
    """A production-shaped configuration pointing at the simulator and the bench broker."""
    streamers = "".join(f"  - {u}\n" for u in users) if users else "  []\n"
    head = textwrap.dedent(
        f"""\
        mqtt:
          server: mqtt://127.0.0.1:{broker_port}
          base_topic: {BASE_TOPIC}
          client_id: tiktok2mqtt-bench
        tiktok:
          connection: direct
          live_poll_interval_s: {poll_s}
          endpoints:
            www: {endpoints.www}
            webcast: {endpoints.webcast}
            websocket: {endpoints.websocket}
            sign_server: {endpoints.sign_server}
        logging:
          level: warning
          mqtt_level: "off"
        service:
          state_dir: {state_dir}
          max_streamers: {max(100, len(users))}
        streamers:
        """
    )
    return head + streamers


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    started: float  # time.monotonic() at spawn
    ready_after_s: float | None  # spawn → READY=1
    notify: socket.socket

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_daemon(
    config: Path,
    *,
    profile: Path | None = None,
    ready_timeout_s: float = 30.0,
    stagger_s: float = 0.0,
    extra_args: Sequence[str] = (),
) -> Daemon:
    """``python -m bench.daemon -c config`` with a NOTIFY_SOCKET; waits for READY=1."""
    sock_path = Path(tempfile.mkdtemp(prefix="bench-notify-")) / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(sock_path))
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), PYTHONPATH=str(REPO))
    env.pop("WATCHDOG_USEC", None)
    cmd = [sys.executable, "-m", "bench.daemon", "-c", str(config)]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    if stagger_s:
        cmd += ["--stagger", str(stagger_s)]
    cmd += list(extra_args)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stderr=subprocess.PIPE)
    ready = _wait_ready(notify, started, ready_timeout_s, proc)
    daemon = Daemon(proc, started, ready, notify)
    if ready is None:
        err = stop_daemon(daemon)
        raise RuntimeError(f"daemon never sent READY=1: {err.strip()[-1000:]}")
    return daemon


def _wait_ready(
    notify: socket.socket, started: float, timeout_s: float, proc: subprocess.Popen[bytes]
) -> float | None:
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        notify.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
        try:
            data = notify.recv(4096)
        except TimeoutError:
            if proc.poll() is not None:
                return None
            continue
        if b"READY=1" in data.split(b"\n"):
            return time.monotonic() - started
    return None


def stop_daemon(daemon: Daemon, timeout_s: float = 20.0) -> str:
    """SIGTERM (the clean path) and wait; returns stderr for diagnostics."""
    daemon.proc.terminate()
    try:
        _, err = daemon.proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        daemon.proc.kill()
        _, err = daemon.proc.communicate()
    path = daemon.notify.getsockname()
    daemon.notify.close()
    with contextlib.suppress(OSError):
        Path(path).unlink()
        Path(path).parent.rmdir()
    return err.decode("utf-8", errors="replace") if err else ""


def start_subscriber(port: int, topic: str) -> subprocess.Popen[str]:
    """bench/subscriber.py in its own process; returns once it is subscribed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.subscriber", str(port), topic],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"subscriber did not start: {line!r}")
    return proc
