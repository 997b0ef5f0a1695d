"""Fixtures: a real mosquitto broker per test (owned by the MQTT sink work).

`Mosquitto` runs the real broker binary with a generated config on a free loopback port
(never the system broker on 1883), so tests can kill, pause and restart it. `MqttRecorder`
is an in-process aiomqtt subscriber that records what the broker delivers.

    def test_x(mosquitto: Mosquitto) -> None: ...           # started, always stopped
    async def test_y(mosquitto, subscriber) -> None:
        rec = await subscriber(mosquitto, "tiktok/#")
        msg = await rec.wait_for("tiktok/bridge/state", lambda m: m.text == "online")

Custom brokers (password file, ACL, TLS, persistence) via the `mosquitto_factory` fixture:
    broker = mosquitto_factory(users={"bridge": "s3cret"}, allow_anonymous=False)
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
import pytest

__all__ = [
    "Mosquitto",
    "MqttRecorder",
    "Received",
    "Subscribe",
    "TlsFiles",
    "free_port",
    "mosquitto_binary",
]

_START_TIMEOUT_S = 10.0


def mosquitto_binary() -> str:
    """/usr/sbin/mosquitto (Debian puts it outside a normal user's PATH), else PATH."""
    for candidate in ("/usr/sbin/mosquitto", shutil.which("mosquitto")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("mosquitto binary not installed")


def free_port() -> int:
    """A currently free loopback port (the broker binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files of a throw-away PKI: CA, server (CN/SAN 127.0.0.1 + localhost), client."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tls_files(directory: Path) -> TlsFiles:
    """Generate a CA plus server and client certificates with the openssl CLI (EC keys: fast)."""
    directory.mkdir(parents=True, exist_ok=True)
    ext = directory / "ext.cnf"
    ext.write_text(
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\n"
        "[server]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "authorityKeyIdentifier=keyid\n"
        "[client]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=clientAuth\nauthorityKeyIdentifier=keyid\n"
    )
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=tiktok2mqtt test CA", "-extensions", "ca", "-config", "ext.cnf",
             cwd=directory)  # fmt: skip
    for name, cn in (("server", "127.0.0.1"), ("client", "tiktok2mqtt-client")):
        _openssl("req", "-new", *curve, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={cn}", cwd=directory)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
                 "-extfile", "ext.cnf", "-extensions", name, cwd=directory)  # fmt: skip
    return TlsFiles(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )


class Mosquitto:
    """One mosquitto process with its own config, log and persistence file in `workdir`.

    The port is chosen once, so `restart()` comes back on the same address (clients
    reconnect to what they know) and, with `persistence=True`, from the same database.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        allow_anonymous: bool = True,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        persistence: bool = False,
        tls: bool = False,
        require_client_cert: bool = False,
        extra_config: str = "",
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.allow_anonymous = allow_anonymous
        self.users = dict(users or {})
        self.acl = acl
        self.persistence = persistence
        self.tls_files: TlsFiles | None = make_tls_files(workdir / "pki") if tls else None
        self.tls_port: int | None = free_port() if tls else None
        self.require_client_cert = require_client_cert
        self.extra_config = extra_config
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._write_files()

    # -- addresses -------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        if self.tls_port is None:
            raise RuntimeError("broker started without tls=True")
        return f"mqtts://127.0.0.1:{self.tls_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- config ----------------------------------------------------------------------------

    def _write_files(self) -> None:
        lines = [
            # Running as root, mosquitto 2 would drop to user "mosquitto" and then be unable
            # to read files in our tmp dir; naming the current user keeps it as is.
            f"user {getpass.getuser()}",
            "per_listener_settings false",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            "log_dest stdout",
            "log_type all",
            "connection_messages true",
            f"listener {self.port} 127.0.0.1",
        ]
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "persistence_file mosquitto.db",
                "autosave_interval 1",
            ]
        else:
            lines.append("persistence false")
        if self.users:
            lines.append(f"password_file {self._write_password_file()}")
        if self.acl is not None:
            acl_path = self.workdir / "acl"
            acl_path.write_text(self.acl)
            lines.append(f"acl_file {acl_path}")
        if self.tls_files is not None:
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {self.tls_files.ca_cert}",
                f"certfile {self.tls_files.server_cert}",
                f"keyfile {self.tls_files.server_key}",
                f"require_certificate {'true' if self.require_client_cert else 'false'}",
            ]
        if self.extra_config:
            lines.append(self.extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")

    def _write_password_file(self) -> Path:
        path = self.workdir / "passwd"
        path.write_text("".join(f"{user}:{pw}\n" for user, pw in self.users.items()))
        path.chmod(0o600)
        # mosquitto_passwd -U hashes the plain-text file in place.
        subprocess.run(["mosquitto_passwd", "-U", str(path)], check=True, capture_output=True)
        return path

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Mosquitto:
        if self.running:
            return self
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                [mosquitto_binary(), "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is not for the broker
            )
        finally:
            log.close()
        self._paused = False
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        ports = [self.port] + ([self.tls_port] if self.tls_port else [])
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited at start:\n{self.log_text()}")
            if all(_port_accepts(port) for port in ports):
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"mosquitto did not accept on {ports}:\n{self.log_text()}")

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (mosquitto saves its persistence file), SIGKILL if it does not exit."""
        if self._proc is None:
            return
        self.resume()  # a stopped process would only handle SIGTERM after SIGCONT
        self._signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, nothing saved since the last autosave."""
        if self._proc is None:
            return
        self._signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(10)
        self._proc = None
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP: sockets stay open but nothing is read or answered (a hung broker)."""
        self._signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        if self._paused:
            self._signal(signal.SIGCONT)
            self._paused = False

    def restart(self) -> Mosquitto:
        """Stop (SIGTERM) and start again on the same port with the same persistence file."""
        self.stop()
        return self.start()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Mosquitto({self.url}, pid={self.pid})"


# -- recorder -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.payload)


class MqttRecorder:
    """An in-process subscriber that records every message it receives.

    `wait_for` looks at messages already recorded first, so there is no race between the
    action under test and the wait; call `clear()` to look only at later messages.
    """

    def __init__(
        self,
        host: str,
        port: int,
        topic_filters: Sequence[str] | str = "#",
        *,
        username: str | None = None,
        password: str | None = None,
        identifier: str | None = None,
        clean_session: bool | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.filters = [topic_filters] if isinstance(topic_filters, str) else list(topic_filters)
        self.username = username
        self.password = password
        self.identifier = identifier
        # False (with an identifier): a persistent session; on a broker with persistence it
        # survives a restart, so nothing published before we are back is missed.
        self.clean_session = clean_session
        self.messages: list[Received] = []
        self._changed = asyncio.Condition()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_broker(
        cls, broker: Mosquitto, topic_filters: Sequence[str] | str = "#"
    ) -> MqttRecorder:
        return cls(broker.host, broker.port, topic_filters)

    async def start(self) -> MqttRecorder:
        self._client = aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=self.identifier,
            clean_session=self.clean_session,
            timeout=10,
        )
        await self._client.__aenter__()
        for topic_filter in self.filters:
            await self._client.subscribe(topic_filter, qos=1)
        self._task = asyncio.create_task(self._read(self._client), name="mqtt-recorder")
        return self

    async def _read(self, client: aiomqtt.Client) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async for message in client.messages:
                payload = message.payload
                raw = payload if isinstance(payload, bytes) else str(payload).encode()
                received = Received(str(message.topic), raw, bool(message.retain), message.qos)
                async with self._changed:
                    self.messages.append(received)
                    self._changed.notify_all()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.__aexit__(None, None, None)
            self._client = None

    async def __aenter__(self) -> MqttRecorder:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def clear(self) -> None:
        self.messages.clear()

    def on(self, topic_filter: str) -> list[Received]:
        """Recorded messages whose topic matches `topic_filter` (wildcards allowed)."""
        return [m for m in self.messages if paho.topic_matches_sub(topic_filter, m.topic)]

    async def wait_for(
        self,
        topic_filter: str,
        predicate: Callable[[Received], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - the shared helper API every test folder uses
    ) -> Received:
        """The first recorded message on `topic_filter` satisfying `predicate`."""

        def match() -> Received | None:
            for message in self.on(topic_filter):
                if predicate is None or predicate(message):
                    return message
            return None

        async def waiter() -> Received:
            async with self._changed:
                while (found := match()) is None:
                    await self._changed.wait()
                return found

        try:
            return await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            seen = [(m.topic, m.payload[:80], m.retain) for m in self.messages[-20:]]
            raise AssertionError(
                f"no message on {topic_filter!r} matching within {timeout}s; last seen: {seen}"
            ) from None

    async def wait_count(
        self,
        topic_filter: str,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[Received]:
        """Wait until at least `count` messages matched `topic_filter`."""

        async def waiter() -> list[Received]:
            async with self._changed:
                while len(found := self.on(topic_filter)) < count:
                    await self._changed.wait()
                return found

        try:
            return await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            got = len(self.on(topic_filter))
            raise AssertionError(
                f"{got}/{count} messages on {topic_filter!r} in {timeout}s"
            ) from None


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Start brokers with custom options; all of them are stopped at teardown."""
    brokers: list[Mosquitto] = []

    def make(**options: Any) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"mosquitto{len(brokers)}", **options)
        brokers.append(broker)
        return broker.start()

    try:
        yield make
    finally:
        for broker in brokers:
            # Nothing to save without persistence, and mosquitto takes about 0.1 s to act on
            # a SIGTERM that comes right after it started: that was a tenth of a second of
            # every test's teardown. A persistent broker still gets its SIGTERM and saves.
            if broker.persistence:
                broker.stop()  # resumes a paused broker first
            else:
                broker.kill()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., Mosquitto]) -> Mosquitto:
    """A started anonymous broker on a free port, without persistence."""
    return mosquitto_factory()


Subscribe = Callable[..., Awaitable[MqttRecorder]]


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscribe]:
    """`rec = await subscriber(broker, "tiktok/#")`: a started recorder, stopped at teardown."""
    recorders: list[MqttRecorder] = []

    async def make(
        broker: Mosquitto, topic_filters: Sequence[str] | str = "#", **kwargs: Any
    ) -> MqttRecorder:
        recorder = MqttRecorder(broker.host, broker.port, topic_filters, **kwargs)
        recorders.append(recorder)
        return await recorder.start()

    try:
        yield make
    finally:
        for recorder in recorders:
            await recorder.stop()
