"""systemd notify protocol: readiness, status line, stopping, watchdog keep-alives.

Everything is a no-op when the process was not started by systemd with ``Type=notify``
(no ``NOTIFY_SOCKET``), so the daemon calls these unconditionally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from typing import Protocol

import sdnotify

from bridge.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

# systemctl shows STATUS= on one line; longer texts are cut there anyway.
MAX_STATUS_LEN = 200


class _Sender(Protocol):
    def notify(self, state: str) -> None: ...


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None if no watchdog.

    Like sd_watchdog_enabled(3): WATCHDOG_PID, when present, must name this process;
    otherwise the variables were inherited from a parent and are not meant for us.
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    wd_pid = env.get("WATCHDOG_PID")
    if wd_pid and wd_pid != str(os.getpid() if pid is None else pid):
        return None
    return int(usec) / 1_000_000 / 2


def one_line(text: str, limit: int = MAX_STATUS_LEN) -> str:
    """Collapse whitespace/control characters: a newline would end the STATUS= field."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Notifier:
    """sd_notify(3) messages for the daemon; safe to use with or without systemd."""

    def __init__(
        self, env: Mapping[str, str] | None = None, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        env = os.environ if env is None else env
        self._clock = clock
        self._sender: _Sender | None = None
        self._watchdog_s = watchdog_interval(env)
        self._watchdog_task: asyncio.Task[None] | None = None
        self.pings = 0
        if env.get("NOTIFY_SOCKET"):
            self._sender = _connect(env["NOTIFY_SOCKET"])

    @property
    def enabled(self) -> bool:
        return self._sender is not None

    @property
    def watchdog_s(self) -> float | None:
        """Ping interval in seconds when systemd expects watchdog keep-alives."""
        return self._watchdog_s if self.enabled else None

    def notify(self, state: str) -> None:
        if self._sender is not None:
            self._sender.notify(state)

    def ready(self) -> None:
        self.notify("READY=1")

    def status(self, text: str) -> None:
        self.notify("STATUS=" + one_line(text))

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def watchdog_ping(self) -> None:
        self.pings += 1
        self.notify("WATCHDOG=1")

    def start_watchdog(self, alive: Callable[[], bool] = lambda: True) -> asyncio.Task[None] | None:
        """Start pinging from the running event loop; None when no watchdog is configured.

        An asyncio task rather than a thread on purpose: if the loop is blocked, the pings
        stop and systemd kills and restarts the stuck daemon. ``alive`` is asked before each
        ping (the bridge: every supervised task runs or waits for its restart); while it
        says no, no ping goes out, and systemd restarts the daemon.
        """
        interval = self.watchdog_s
        if interval is None or self._watchdog_task is not None:
            return self._watchdog_task
        self._watchdog_task = asyncio.get_running_loop().create_task(
            self._watchdog_loop(interval, alive), name="systemd-watchdog"
        )
        return self._watchdog_task

    async def stop_watchdog(self) -> None:
        task, self._watchdog_task = self._watchdog_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watchdog_loop(self, interval: float, alive: Callable[[], bool]) -> None:
        log.debug("systemd watchdog: ping every %.1f s", interval)
        withheld = False
        while True:
            if alive():
                self.watchdog_ping()
                withheld = False
            elif not withheld:
                log.critical("a supervised task is dead: watchdog pings stop, systemd restarts")
                withheld = True
            await self._clock.sleep(interval)


def _connect(address: str) -> _Sender | None:
    # sdnotify reads NOTIFY_SOCKET itself and swallows every error (no debug flag), which is
    # what we want: a notify failure must never take the daemon down.
    # An explicit env mapping (tests, embedding) is honoured by presenting it briefly.
    saved = os.environ.get("NOTIFY_SOCKET")
    if saved == address:
        sender = sdnotify.SystemdNotifier()
    else:
        os.environ["NOTIFY_SOCKET"] = address
        try:
            sender = sdnotify.SystemdNotifier()
        finally:
            if saved is None:
                del os.environ["NOTIFY_SOCKET"]
            else:
                os.environ["NOTIFY_SOCKET"] = saved
    sock = getattr(sender, "socket", None)
    if sock is None:
        log.warning("NOTIFY_SOCKET=%s is not usable; systemd notifications disabled", address)
        return None
    # Non-blocking: a full socket queue must drop a ping, not freeze the event loop.
    sock.setblocking(False)
    return sender  # type: ignore[no-any-return]
