"""A private MQTT broker for one `tiktok2mqtt demo` run, when no broker answers.

Two kinds, both on a free loopback port and both stopped when the demo ends:

* ``mosquitto``, when its binary is installed: a child process under a guard that stops it
  when the demo ends, however it ends (see _GUARD).
* ``embedded``: amqtt (the ``demo`` extra) in the demo's own event loop, so it cannot outlive
  it. amqtt speaks MQTT 3.1.1, which is what the bridge's clients speak (aiomqtt's default);
  it keeps retained messages, publishes the Will and does QoS 0/1/2 (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("auto", "mosquitto", "embedded")
HOST = "127.0.0.1"
_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0
_ATTEMPTS = 3  # a free port can be taken between our probe and the broker's bind
# Debian installs mosquitto in sbin, which is not on a normal user's PATH; Homebrew likewise.
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")
EXTRA_HINT = "pip install 'tiktok2mqtt[demo]'  # or: scripts/demo, which installs it"


class BrokerUnavailable(Exception):
    """No private broker could be started; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class PrivateBroker:
    name: str  # what the demo tells the user: "mosquitto" or "embedded amqtt broker"
    port: int
    host: str = HOST

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def find_mosquitto() -> str | None:
    """The mosquitto binary on PATH or in the usual sbin directories, else None."""
    path = os.pathsep.join([os.environ.get("PATH", os.defpath), *_SBIN])
    return shutil.which("mosquitto", path=path)


@contextlib.asynccontextmanager
async def private_broker(kind: str = "auto") -> AsyncIterator[PrivateBroker]:
    """A started broker of ``kind`` (see KINDS), stopped when the block ends.

    Raises BrokerUnavailable when none can be started.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown broker kind {kind!r}")
    binary = find_mosquitto() if kind != "embedded" else None
    if kind == "mosquitto" and binary is None:
        raise BrokerUnavailable("mosquitto is not installed (sudo apt install mosquitto)")
    starter = _mosquitto(binary) if binary is not None else _embedded()
    async with starter as broker:
        yield broker


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------- mosquitto


@contextlib.asynccontextmanager
async def _mosquitto(binary: str) -> AsyncIterator[PrivateBroker]:
    with tempfile.TemporaryDirectory(prefix="tiktok2mqtt-demo-broker-") as tmp:
        log_path = Path(tmp) / "mosquitto.log"
        for _ in range(_ATTEMPTS):
            port = free_port()
            config = Path(tmp) / "mosquitto.conf"
            config.write_text(_mosquitto_config(port))
            proc = await _spawn([binary, "-c", str(config)], log_path)
            if await _accepting(proc, port):
                break
            await _stop(proc)
        else:
            log = log_path.read_text(errors="replace").strip()
            raise BrokerUnavailable(f"mosquitto did not start: {log or 'no output'}")
        try:
            yield PrivateBroker("mosquitto", port)
        finally:
            await _stop(proc)


def _mosquitto_config(port: int) -> str:
    # Only this run's clients, only on loopback; nothing kept on disk.
    return "\n".join([
        f"listener {port} {HOST}",
        "allow_anonymous true",
        "persistence false",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "",
    ])  # fmt: skip


# mosquitto runs under a small sh guard whose stdin is a pipe from the demo. However the demo
# ends (Ctrl-C, an error, even kill -9) the pipe closes: the guard's `read` returns and it
# stops mosquitto. The guard exits when mosquitto does, so a failed start is noticed at once.
_GUARD = 'exec 3<&0; "$@" 3<&- & b=$!; (read _ <&3; kill $b 2>/dev/null) & wait $b'


async def _spawn(argv: list[str], log_path: Path) -> asyncio.subprocess.Process:
    with log_path.open("ab") as log:
        return await asyncio.create_subprocess_exec(
            "sh", "-c", _GUARD, "sh", *argv,
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in the terminal is for the demo, which still has a
            # goodbye to publish through this broker.
            start_new_session=True,
        )  # fmt: skip


async def _accepting(proc: asyncio.subprocess.Process, port: int) -> bool:
    """Whether the broker came up on ``port`` (False once it exited, e.g. port taken)."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline and proc.returncode is None:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection(HOST, port)
            writer.close()
            await writer.wait_closed()
            return proc.returncode is None
        await asyncio.sleep(0.02)
    return False


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Close the guard's pipe (it stops mosquitto), SIGKILL the group after a grace period.
    The pipe is closed before any await: even a demo interrupted here leaves no broker."""
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


# ---------------------------------------------------------------------------- embedded


@contextlib.asynccontextmanager
async def _embedded() -> AsyncIterator[PrivateBroker]:
    try:
        from amqtt.broker import Broker  # the optional `demo` extra
    except ImportError:
        raise BrokerUnavailable(
            f"the embedded broker (amqtt) is not installed: {EXTRA_HINT}"
        ) from None
    # amqtt reports every client coming and going at INFO/WARNING: not the demo's story.
    logging.getLogger("amqtt").setLevel(logging.ERROR)
    last_error: Exception | None = None
    for _ in range(_ATTEMPTS):
        port = free_port()
        broker = Broker(_amqtt_config(port))
        try:
            await broker.start()
        except Exception as exc:  # amqtt wraps bind errors in its own BrokerError
            last_error = exc
            continue
        try:
            yield PrivateBroker("embedded amqtt broker", port)
        finally:
            await broker.shutdown()
        return
    raise BrokerUnavailable(f"the embedded broker did not start: {last_error}")


def _amqtt_config(port: int) -> dict[str, Any]:
    # Anonymous access only; none of amqtt's default $SYS and packet-logging plugins.
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{HOST}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
