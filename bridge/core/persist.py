"""Runtime changes that survive a restart: watch switches and streamers added over MQTT.

Stored as ``<state_dir>/runtime.json``::

    {"version": 1, "watch": {"alice": false}, "streamers": {"carol": {"events": ["gift"]}}}

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

log = logging.getLogger(__name__)

FILE_NAME = "runtime.json"


class RuntimeStore:
    def __init__(self, state_dir: str | Path | None) -> None:
        self.path = Path(state_dir) / FILE_NAME if state_dir else None
        self._watch: dict[str, bool] = {}
        self._streamers: dict[str, dict[str, Any]] = {}
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._watch = {str(k): bool(v) for k, v in data.get("watch", {}).items()}
            streamers = data.get("streamers", {})
            self._streamers = {str(k): dict(v) for k, v in streamers.items()}
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
        changed = self._streamers.pop(user, None) is not None
        changed = self._watch.pop(user, None) is not None or changed
        if changed:
            self._save()

    # ---------------------------------------------------------------- file

    def _save(self) -> None:
        if self.path is None:
            return
        body = {"version": 1, "watch": self._watch, "streamers": self._streamers}
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
