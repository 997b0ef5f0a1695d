"""Runtime changes that survive a restart: watch switches, streamers added over MQTT, goal
targets set over MQTT and the goals of the current stream.

Stored as ``<state_dir>/runtime.json``::

    {"version": 1, "watch": {"alice": false}, "streamers": {"carol": {"events": ["gift"]}},
     "goals": {"alice": {"likes": {"target": 5000, "configured": 10000}}},
     "progress": {"alice": {"room_id": "7330…", "goals": {"likes": {…}}}}}

Written atomically (temp file + fsync + rename) so a power cut on a Raspberry Pi leaves
either the old or the new file, never a truncated one. The configuration file stays the
source of truth for configured streamers; only runtime additions are stored here.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from bridge.core.goals import count_or

log = logging.getLogger(__name__)

FILE_NAME = "runtime.json"


class RuntimeStore:
    def __init__(self, state_dir: str | Path | None) -> None:
        self.path = Path(state_dir) / FILE_NAME if state_dir else None
        self._watch: dict[str, bool] = {}
        self._streamers: dict[str, dict[str, Any]] = {}
        self._goals: dict[str, dict[str, Any]] = {}  # user → goal → {target, configured}
        self._progress: dict[str, dict[str, Any]] = {}  # user → StreamGoals.snapshot()
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._watch = {str(k): bool(v) for k, v in data.get("watch", {}).items()}
            streamers = data.get("streamers", {})
            self._streamers = {str(k): dict(v) for k, v in streamers.items()}
            self._goals = {str(k): dict(v) for k, v in data.get("goals", {}).items()}
            self._progress = {str(k): dict(v) for k, v in data.get("progress", {}).items()}
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            # A corrupt file must not stop the daemon: configured defaults are the safe state.
            log.warning("ignoring unreadable %s: %s", self.path, exc)

    # ---------------------------------------------------------------- watch switches

    def watch(self, user: str, default: bool = True) -> bool:
        return self._watch.get(user, default)

    def set_watch(self, user: str, on: bool) -> None:
        if self._watch.get(user) != on:
            self._watch[user] = on
            self._save()

    # ---------------------------------------------------------------- runtime streamers

    @property
    def streamers(self) -> dict[str, dict[str, Any]]:
        return dict(self._streamers)

    def add_streamer(self, user: str, options: dict[str, Any]) -> None:
        self._streamers[user] = options
        self._save()

    def remove_streamer(self, user: str) -> None:
        changed = False
        for stored in (self._streamers, self._watch, self._goals, self._progress):
            changed = stored.pop(user, None) is not None or changed
        if changed:
            self._save()

    # ---------------------------------------------------------------- goals

    def goal_targets(self, user: str, configured: dict[str, int]) -> dict[str, int]:
        """The targets in force: one set over MQTT wins as long as the configuration still
        says what it said then (an edited file wins over an older MQTT change)."""
        targets = dict(configured)
        stored = self._goals.get(user, {})
        stale = []
        for name, entry in stored.items():
            target = count_or(entry.get("target"), -1) if isinstance(entry, dict) else -1
            if target >= 0 and name in targets and entry.get("configured") == targets[name]:
                targets[name] = target
            else:
                stale.append(name)
        if stale:
            for name in stale:
                del stored[name]
            self._save()
        return targets

    def set_goal_targets(
        self, user: str, targets: dict[str, int], configured: dict[str, int]
    ) -> None:
        stored = self._goals.setdefault(user, {})
        for name, target in targets.items():
            if target == configured[name]:
                stored.pop(name, None)  # back to the configured value: nothing to keep
            else:
                stored[name] = {"target": target, "configured": configured[name]}
        if not stored:
            del self._goals[user]
        self._save()

    def goal_progress(self, user: str) -> dict[str, Any] | None:
        return self._progress.get(user)

    def set_goal_progress(self, user: str, snapshot: dict[str, Any]) -> None:
        if self._progress.get(user) != snapshot:
            self._progress[user] = snapshot
            self._save()

    # ---------------------------------------------------------------- file

    def _save(self) -> None:
        if self.path is None:
            return
        body = {
            "version": 1,
            "watch": self._watch,
            "streamers": self._streamers,
            "goals": self._goals,
            "progress": self._progress,
        }
        try:
            atomic_write(self.path, json.dumps(body, indent=2, sort_keys=True))
        except OSError as exc:
            log.error("cannot persist runtime state to %s: %s", self.path, exc)


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
