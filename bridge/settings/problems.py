"""What a failed configuration load reports: every problem, each with its key path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# sysexits.h EX_CONFIG. systemd units list it in RestartPreventExitStatus= so a bad
# configuration stops the service instead of restart-looping and flooding the journal.
EXIT_CONFIG = 78


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration: where (key path or file) and a plain sentence."""

    path: str  # e.g. "streamers[1].gift_tiers.medium"; the file name for file-level problems
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigInvalid(Exception):
    """The configuration cannot be used; `problems` lists everything found, not just the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"configuration is not valid, found {count} {noun}")
