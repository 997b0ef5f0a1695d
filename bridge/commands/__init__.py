"""Sub-commands of the `tiktok2mqtt` CLI, one module each, found automatically.

To add a command: write bridge/commands/<name>.py defining ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable

# (name, help, add_arguments, run); run returns the process exit code.
AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
Command = tuple[str, str, AddArguments, Run]


def _load() -> list[Command]:
    cmds: list[Command] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NAME"):
            cmds.append((mod.NAME, mod.HELP, mod.add_arguments, mod.run))
    return cmds


ALL: list[Command] = _load()
