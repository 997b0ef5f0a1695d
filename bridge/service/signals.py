"""Process signals → asyncio: SIGTERM/SIGINT request shutdown, SIGHUP requests a reload.

Handlers run inside the event loop (``loop.add_signal_handler``), so they may touch asyncio
objects directly. The first SIGTERM/SIGINT sets ``shutdown`` and the daemon winds down in
order (offline message, disconnect); a second one means "now": the process exits at once,
for when the clean path hangs (systemd would otherwise wait TimeoutStopSec= and SIGKILL).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

ReloadCallback = Callable[[], Any]  # may return an awaitable; it is then run as a task
ForceExit = Callable[[int], Any]

SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_on_shutdown_signals(stop: asyncio.Event) -> None:
    """SIGTERM/SIGINT set ``stop``, where the platform allows (the simple form, for tools
    such as `record` and `sim`; the daemon uses SignalHandlers)."""
    loop = asyncio.get_running_loop()
    for sig in SHUTDOWN_SIGNALS:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


def _force_exit(code: int) -> None:
    # os._exit skips atexit/finally blocks on purpose: the clean path already failed.
    os._exit(code)


class SignalHandlers:
    """Install with ``install()`` from inside the running loop; ``uninstall()`` to restore."""

    def __init__(
        self,
        *,
        on_reload: ReloadCallback | None = None,
        force_exit: ForceExit = _force_exit,
    ) -> None:
        self.shutdown = asyncio.Event()
        self.received: signal.Signals | None = None
        self.reloads = 0
        self._on_reload = on_reload
        self._force_exit = force_exit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def install(self) -> None:
        self._loop = asyncio.get_running_loop()
        for sig in SHUTDOWN_SIGNALS:
            self._loop.add_signal_handler(sig, self._on_shutdown_signal, sig)
        self._loop.add_signal_handler(signal.SIGHUP, self._on_hup)

    def uninstall(self) -> None:
        if self._loop is None:
            return
        for sig in (*SHUTDOWN_SIGNALS, signal.SIGHUP):
            self._loop.remove_signal_handler(sig)
        self._loop = None

    async def wait(self) -> signal.Signals | None:
        """Until a shutdown signal (or ``request_shutdown``); returns the signal, if any."""
        await self.shutdown.wait()
        return self.received

    def request_shutdown(self) -> None:
        """Programmatic shutdown (e.g. a fatal error), same path as SIGTERM."""
        self.shutdown.set()

    def _on_shutdown_signal(self, sig: signal.Signals) -> None:
        if self.shutdown.is_set():
            log.warning("second %s: exiting immediately", sig.name)
            self._force_exit(128 + sig.value)
            return
        log.info("%s received: shutting down", sig.name)
        self.received = sig
        self.shutdown.set()

    def _on_hup(self) -> None:
        self.reloads += 1
        if self._on_reload is None:
            log.info("SIGHUP received: nothing to reload")
            return
        log.info("SIGHUP received: reloading")
        try:
            result = self._on_reload()
        except Exception:
            log.exception("reload failed")
            return
        if inspect.isawaitable(result):
            self._track(result)

    def _track(self, awaitable: Any) -> None:
        # Keep a reference: the loop holds tasks only weakly.
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._reload_done)

    def _reload_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("reload failed", exc_info=task.exception())
