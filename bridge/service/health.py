"""Health file: a small JSON heartbeat the daemon rewrites every ``health_interval_s``.

A container HEALTHCHECK (``tiktok2mqtt healthcheck``) reads it without talking to the
daemon: healthy = written recently by a running daemon that is connected to MQTT.
Standard library only, so the healthcheck command stays cheap to start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Default staleness limit: two missed writes plus slack for a slow SD card.
STALE_FACTOR = 2.0
STALE_SLACK_S = 10.0


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """What the daemon reports; ``streamers`` is a JSON-ready summary per streamer."""

    mqtt_connected: bool
    streamers: Mapping[str, Any] = field(default_factory=dict)


def default_max_age(interval_s: float) -> float:
    return interval_s * STALE_FACTOR + STALE_SLACK_S


class HealthFile:
    """Keeps ``path`` fresh; write failures are logged once and retried next interval."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        interval_s: float,
        status: Callable[[], HealthStatus],
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("health interval must be > 0")
        self.path = Path(path)
        self.interval_s = interval_s
        self._status = status
        self._clock = clock
        self._failing = False
        self.writes = 0

    def payload(self, status: HealthStatus, *, state: str = "running") -> dict[str, Any]:
        now = self._clock()
        return {
            "v": FORMAT_VERSION,
            "ts": round(now, 3),
            "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "pid": os.getpid(),
            "state": state,
            "interval_s": self.interval_s,
            "mqtt_connected": status.mqtt_connected,
            "streamers": dict(status.streamers),
        }

    def write(self, status: HealthStatus | None = None, *, state: str = "running") -> bool:
        """Write one snapshot atomically; False (and a log line) when it fails."""
        data = self.payload(self._status() if status is None else status, state=state)
        try:
            atomic_write_json(self.path, data)
        except OSError as exc:
            if not self._failing:
                log.warning("cannot write health file %s: %s", self.path, exc)
            self._failing = True
            return False
        if self._failing:
            log.info("health file %s writable again", self.path)
        self._failing = False
        self.writes += 1
        return True

    async def run(self) -> None:
        """Forever: snapshot on the loop, write in a thread (an SD card may be slow)."""
        while True:
            status = self._status()
            await asyncio.to_thread(self.write, status)
            await asyncio.sleep(self.interval_s)

    def mark_stopped(self) -> None:
        """Final write on clean shutdown, so a healthcheck says "stopped", not "stale"."""
        self.write(HealthStatus(mqtt_connected=False), state="stopped")


def atomic_write_json(path: Path, data: Mapping[str, Any]) -> None:
    # tmp + rename in the same directory: readers see the old or the new file, never half.
    # No fsync: the file is a heartbeat; after a crash a stale one is the right answer.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def check_health(
    path: str | os.PathLike[str],
    max_age_s: float | None = None,
    *,
    now: float | None = None,
) -> tuple[bool, str]:
    """(healthy, one-line reason). ``max_age_s`` None: derived from the file's interval."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return False, f"no health file at {path} (daemon not running, or health_file unset)"
    except OSError as exc:
        return False, f"cannot read health file {path}: {exc.strerror or exc}"
    try:
        data = json.loads(raw)
        ts = float(data["ts"])
        interval = float(data.get("interval_s", 60.0))
    except (ValueError, KeyError, TypeError):
        return False, f"health file {path} is not valid"
    return _judge(data, ts, interval, max_age_s, time.time() if now is None else now)


def _judge(
    data: Mapping[str, Any], ts: float, interval: float, max_age_s: float | None, now: float
) -> tuple[bool, str]:
    limit = default_max_age(interval) if max_age_s is None else max_age_s
    age = now - ts
    if data.get("state") == "stopped":
        return False, "daemon stopped"
    if age > limit:
        return False, f"stale: last update {age:.0f} s ago (limit {limit:.0f} s)"
    if data.get("mqtt_connected") is not True:
        return False, "MQTT broker not connected"
    streamers = data.get("streamers")
    count = len(streamers) if isinstance(streamers, Mapping) else 0
    return True, f"ok: updated {max(age, 0):.0f} s ago, MQTT connected, {count} streamer(s)"
