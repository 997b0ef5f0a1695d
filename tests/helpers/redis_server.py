"""Fixtures: a real redis-server per test on a free port, and a TCP proxy that can cut a link.

`RedisServer` runs /usr/bin/redis-server (never the system one on 6379) without persistence,
so `kill()` + `start()` is a restart that loses every key. `TcpProxy` sits between one
client and the server: `cut()` silently drops everything in both directions (a partition:
calls hang until their timeout), `heal()` lets new connections through again.

    def test_x(redis_server: RedisServer) -> None: ...       # started, always stopped
    async def test_y(redis_server, tcp_proxy) -> None:
        proxy = await tcp_proxy(redis_server.port)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

__all__ = ["RedisServer", "TcpProxy", "redis_binary"]

_START_TIMEOUT_S = 10.0


def redis_binary() -> str:
    for candidate in ("/usr/bin/redis-server", shutil.which("redis-server")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("redis-server binary not installed")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process; the port stays the same across restarts."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.log_path = workdir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RedisServer:
        if self.running:
            return self
        args = [
            redis_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited at start:\n{self.log_text()}")
            if self._answers_ping():
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server did not answer on {self.port}:\n{self.log_text()}")

    def _answers_ping(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            try:
                sock.connect(("127.0.0.1", self.port))
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

    def kill(self) -> None:
        """SIGKILL: every key is gone (no persistence)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(10)
        self._proc = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __repr__(self) -> str:
        return f"RedisServer({self.url}, running={self.running})"


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target port, in the test's event loop."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cut_now = False
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cut(self) -> None:
        """From now on nothing passes, in either direction; connections stay open."""
        self.cut_now = True

    def heal(self) -> None:
        """Close the connections that lost data while cut; new ones pass again."""
        self.cut_now = False
        for writer in list(self._links):
            writer.close()
        self._links.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._links.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._links.add(up_writer)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst, (writer, up_writer)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while data := await src.read(65536):
                if self.cut_now:
                    continue  # dropped: the other side hears nothing
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in pair:
                writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._links):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[[], RedisServer]]:
    servers: list[RedisServer] = []

    def make() -> RedisServer:
        server = RedisServer(tmp_path / f"redis{len(servers)}")
        servers.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in servers:
            server.kill()


@pytest.fixture
def redis_server(redis_factory: Callable[[], RedisServer]) -> RedisServer:
    """A started redis-server on a free port, without persistence."""
    return redis_factory()


@pytest.fixture
async def tcp_proxy() -> AsyncIterator[Callable[[int], Awaitable[TcpProxy]]]:
    proxies: list[TcpProxy] = []

    async def make(target_port: int) -> TcpProxy:
        proxy = TcpProxy(target_port)
        proxies.append(proxy)
        return await proxy.start()

    try:
        yield make
    finally:
        for proxy in proxies:
            await proxy.close()
