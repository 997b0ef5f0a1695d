"""Notifier against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time

import pytest

from bridge.clock import VirtualClock
from bridge.service.systemd import Notifier, one_line, watchdog_interval


def _env(sock: socket.socket, **extra: str) -> dict[str, str]:
    return {"NOTIFY_SOCKET": sock.getsockname(), **extra}


def _recv(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def _drain(sock: socket.socket) -> list[str]:
    messages = []
    sock.setblocking(False)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(5.0)
    return messages


def test_ready_status_stopping_reach_the_socket(notify_socket: socket.socket) -> None:
    notifier = Notifier(_env(notify_socket))
    assert notifier.enabled
    notifier.ready()
    notifier.status("watching 2 streamers\n1 live")
    notifier.stopping()
    assert [_recv(notify_socket) for _ in range(3)] == [
        "READY=1",
        "STATUS=watching 2 streamers 1 live",
        "STOPPING=1",
    ]


def test_uses_process_environment_by_default(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.getsockname())
    Notifier().ready()
    assert _recv(notify_socket) == "READY=1"


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = Notifier({"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled
    assert notifier.watchdog_s is None
    notifier.ready()
    notifier.status("x")
    notifier.stopping()


async def test_no_watchdog_task_without_systemd() -> None:
    assert Notifier({}).start_watchdog() is None


def test_unusable_socket_disables_notifications(tmp_path: os.PathLike[str]) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": os.path.join(tmp_path, "missing")})
    assert not notifier.enabled
    notifier.ready()  # must not raise


def test_status_is_a_single_bounded_line() -> None:
    assert one_line("a\tb\r\nc\x00d") == "a b c d"
    long = one_line("x" * 500)
    assert len(long) == 200
    assert long.endswith("…")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another pid
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "garbage"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(
    env: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(env) == expected


async def test_watchdog_pings_at_half_the_interval(notify_socket: socket.socket) -> None:
    notifier = Notifier(_env(notify_socket, WATCHDOG_USEC="200000"))  # 0.2 s → ping 0.1 s
    assert notifier.watchdog_s == pytest.approx(0.1)
    task = notifier.start_watchdog()
    assert task is not None
    arrivals = []
    for _ in range(3):
        message = await asyncio.to_thread(_recv, notify_socket)
        arrivals.append(time.monotonic())
        assert message == "WATCHDOG=1"
    await notifier.stop_watchdog()
    assert task.cancelled()
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # Lower bound only: pings are paced by the interval, never sent in a burst.
    assert all(gap >= 0.08 for gap in gaps), gaps


async def test_watchdog_is_driven_by_the_event_loop(notify_socket: socket.socket) -> None:
    """A blocked loop sends no ping: that is what lets systemd kill a stuck daemon."""
    notifier = Notifier(_env(notify_socket, WATCHDOG_USEC="100000"))  # ping every 0.05 s
    notifier.start_watchdog()
    assert await asyncio.to_thread(_recv, notify_socket) == "WATCHDOG=1"
    _drain(notify_socket)
    before = notifier.pings
    time.sleep(0.3)  # noqa: ASYNC251 - deliberately block the loop for 6 intervals
    assert notifier.pings == before
    assert _drain(notify_socket) == []
    await asyncio.sleep(0.2)  # loop free again: pings resume
    assert notifier.pings > before
    await notifier.stop_watchdog()


async def test_watchdog_pings_only_while_every_supervised_task_is_alive(
    notify_socket: socket.socket,
) -> None:
    clock = VirtualClock()
    alive = [True]
    notifier = Notifier(_env(notify_socket, WATCHDOG_USEC="20000000"), clock=clock)  # 10 s
    notifier.start_watchdog(alive=lambda: alive[0])
    assert await asyncio.to_thread(_recv, notify_socket) == "WATCHDOG=1"
    alive[0] = False  # a supervisor died
    await clock.advance(60.0)
    assert notifier.pings == 1
    assert _drain(notify_socket) == []
    alive[0] = True
    await clock.advance(10.0)
    assert notifier.pings == 2
    assert await asyncio.to_thread(_recv, notify_socket) == "WATCHDOG=1"
    await notifier.stop_watchdog()


async def test_start_watchdog_twice_returns_the_same_task(notify_socket: socket.socket) -> None:
    notifier = Notifier(_env(notify_socket, WATCHDOG_USEC="1000000"))
    first = notifier.start_watchdog()
    assert notifier.start_watchdog() is first
    await notifier.stop_watchdog()
    await notifier.stop_watchdog()  # idempotent
    assert first is not None and first.done()
