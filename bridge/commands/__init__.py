"""Sub-commands of the `tiktok2mqtt` CLI, one module each.

To add a command: write bridge/commands/<name>.py with ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``, and list it in ``_MODULES``.
"""

from __future__ import annotations

import importlib

from bridge.cli import Command

_MODULES: list[str] = []  # e.g. "decode", "run", "check_config"


def _load() -> list[Command]:
    cmds: list[Command] = []
    for mod_name in _MODULES:
        mod = importlib.import_module(f"bridge.commands.{mod_name}")
        cmds.append((mod.NAME, mod.HELP, mod.add_arguments, mod.run))
    return cmds


ALL: list[Command] = _load()
