"""A minimal daemon built from bridge.service, run as a subprocess by test_signals.py.

    python -m tests.service.stub_daemon [--hang] [--async-reload]

Prints one line per step ("ready", "reloaded", "stopping SIGTERM") so the test can follow.
--hang: never finish after the first SIGTERM (to test that a second one forces the exit).
"""

from __future__ import annotations

import asyncio
import sys

from bridge.service.signals import SignalHandlers
from bridge.service.systemd import Notifier


def say(text: str) -> None:
    print(text, flush=True)


async def async_reload() -> None:
    await asyncio.sleep(0)
    say("reloaded async")


async def main(argv: list[str]) -> int:
    reload = async_reload if "--async-reload" in argv else (lambda: say("reloaded"))
    notifier = Notifier()
    handlers = SignalHandlers(on_reload=reload)
    handlers.install()
    notifier.ready()
    notifier.start_watchdog()
    say("ready")
    sig = await handlers.wait()
    notifier.stopping()
    say(f"stopping {sig.name if sig else None}")
    if "--hang" in argv:
        await asyncio.sleep(3600)
    await notifier.stop_watchdog()
    handlers.uninstall()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
