"""Signals: in a real subprocess (SIGTERM exit code, SIGHUP reload) and in-process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest

from bridge.service.signals import SignalHandlers
from tests.helpers.paths import REPO
from tests.service.support import PYTHON, subprocess_env


class Stub:
    """tests/service/stub_daemon.py in a subprocess, read line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "tests.service.stub_daemon", *args],
            cwd=REPO,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def expect(self, line: str) -> None:
        assert self.proc.stdout is not None
        got = self.proc.stdout.readline().strip()
        assert got == line, self.proc.stderr.read() if not got and self.proc.stderr else got

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self) -> int:
        # Generous bound: "quickly" is checked by systemd's TimeoutStopSec in production;
        # here we only need to know the process exits by itself.
        return self.proc.wait(timeout=30)


@pytest.fixture
def stub() -> Iterator[Callable[..., Stub]]:
    started: list[Stub] = []

    def factory(*args: str) -> Stub:
        s = Stub(*args)
        started.append(s)
        return s

    yield factory
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def test_sigterm_exits_cleanly_with_status_0(stub: Callable[..., Stub]) -> None:
    daemon = stub()
    daemon.expect("ready")
    daemon.send(signal.SIGTERM)
    daemon.expect("stopping SIGTERM")
    assert daemon.wait() == 0


def test_sigint_is_a_shutdown_request_too(stub: Callable[..., Stub]) -> None:
    daemon = stub()
    daemon.expect("ready")
    daemon.send(signal.SIGINT)
    daemon.expect("stopping SIGINT")
    assert daemon.wait() == 0


def test_sighup_calls_reload_and_keeps_running(stub: Callable[..., Stub]) -> None:
    daemon = stub()
    daemon.expect("ready")
    daemon.send(signal.SIGHUP)
    daemon.expect("reloaded")
    daemon.send(signal.SIGHUP)
    daemon.expect("reloaded")
    assert daemon.proc.poll() is None
    daemon.send(signal.SIGTERM)
    daemon.expect("stopping SIGTERM")
    assert daemon.wait() == 0


def test_async_reload_callback_is_awaited(stub: Callable[..., Stub]) -> None:
    daemon = stub("--async-reload")
    daemon.expect("ready")
    daemon.send(signal.SIGHUP)
    daemon.expect("reloaded async")
    daemon.send(signal.SIGTERM)
    daemon.expect("stopping SIGTERM")
    assert daemon.wait() == 0


def test_second_sigterm_forces_exit_when_shutdown_hangs(stub: Callable[..., Stub]) -> None:
    daemon = stub("--hang")
    daemon.expect("ready")
    daemon.send(signal.SIGTERM)
    daemon.expect("stopping SIGTERM")
    assert daemon.proc.poll() is None  # hanging in its clean-up
    daemon.send(signal.SIGTERM)
    assert daemon.wait() == 128 + signal.SIGTERM


async def test_in_process_handlers_set_event_and_uninstall() -> None:
    exits: list[int] = []
    reloads: list[str] = []
    handlers = SignalHandlers(on_reload=lambda: reloads.append("r"), force_exit=exits.append)
    handlers.install()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(0.05)
        assert reloads == ["r"]
        assert not handlers.shutdown.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(handlers.wait(), 5) is signal.SIGTERM
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(0.05)
        assert exits == [128 + signal.SIGINT]
    finally:
        handlers.uninstall()
    assert signal.getsignal(signal.SIGHUP) in (signal.SIG_DFL, signal.SIG_IGN)


async def test_failing_reload_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("bad config")

    async def broken_async() -> None:
        raise RuntimeError("bad async config")

    for callback in (broken, broken_async):
        handlers = SignalHandlers(on_reload=callback)
        handlers.install()
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            await asyncio.sleep(0.05)
        finally:
            handlers.uninstall()
        assert handlers.reloads == 1
    assert [r.exc_info[1].args[0] for r in caplog.records if r.exc_info] == [
        "bad config",
        "bad async config",
    ]


async def test_request_shutdown_without_a_signal() -> None:
    handlers = SignalHandlers()
    handlers.request_shutdown()
    assert await asyncio.wait_for(handlers.wait(), 1) is None
