"""Command line: one sub-command per user-facing job.

Each sub-command lives in its own module and registers itself in COMMANDS below;
this file only parses arguments and dispatches.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

# (name, help, add_arguments, run); run returns the process exit code.
AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
Command = tuple[str, str, AddArguments, Run]


def _commands() -> list[Command]:
    # Imported at call time because bridge.commands imports Command from this module.
    # Every command module is loaded to build the parser (no lazy loading per command).
    from bridge import commands

    return commands.ALL


def build_parser() -> argparse.ArgumentParser:
    from bridge import __version__

    parser = argparse.ArgumentParser(prog="tiktok2mqtt", description="TikTok LIVE → MQTT bridge")
    parser.add_argument("--version", action="version", version=f"tiktok2mqtt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text, add_arguments, run in _commands():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args._run
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
