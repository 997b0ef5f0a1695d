"""Logging for the daemon: stderr (journald-aware), secret redaction, logs over MQTT.

* ``setup_logging`` configures the root logger once at start-up.
* ``SecretRedactor`` replaces every registered secret with ``***`` in the message, its
  arguments and exception text, before any handler formats the record.
* ``MqttLogHandler`` forwards warnings and errors as JSON-ready dicts to a callback (the
  core publishes them on ``<base>/bridge/logging``), de-duplicated and rate-limited.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO
from urllib.parse import quote, quote_plus, unquote

REDACTED = "***"

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    # Above every real level: the handler at this level lets nothing through.
    "off": logging.CRITICAL + 100,
}

# syslog priorities for the "<N>" prefix journald understands on stdout/stderr streams.
_SYSLOG_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}

_OWN_HANDLER = "_tiktok2mqtt_handler"


class LoggingSettingsLike(Protocol):
    """What we read from ``bridge.settings.service.LoggingSettings``."""

    @property
    def level(self) -> str: ...

    @property
    def mqtt_level(self) -> str: ...


def parse_level(name: str) -> int:
    try:
        return LEVELS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}; use one of {', '.join(LEVELS)}") from None


# ---------------------------------------------------------------- redaction


def secret_forms(secret: str) -> set[str]:
    """Every form a secret may take in a log line: as written, percent-decoded (a proxy
    password reaches the SOCKS handshake decoded) and percent-encoded, and as the escapes
    of a str, bytes or JSON repr (httpcore's debug trace prints `auth=(b'user', b'pw')`)."""
    forms: set[str] = set()
    for text in {secret, unquote(secret)}:
        forms.update(
            {
                text,
                quote(text, safe=""),
                quote_plus(text, safe=""),
                repr(text)[1:-1],
                repr(text.encode("utf-8", "surrogatepass"))[2:-1],
                json.dumps(text)[1:-1],
            }
        )
    return {form for form in forms if form}


class SecretRedactor(logging.Filter):
    """Logging filter that masks registered secrets in a record, in place.

    Attached to every handler (a filter on the root *logger* would not see records
    propagated from child loggers). Mutating the record means every later handler and
    formatter sees the masked text too.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.register(*secrets)

    def register(self, *secrets: str | None) -> None:
        """Add secrets (None/empty are ignored, so config values can be passed as they are)."""
        with self._lock:
            for secret in secrets:
                if secret:
                    self._secrets.update(secret_forms(secret))
            # Longest first so a secret containing another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        # Merge args first: a secret may hide in an argument's str()/repr().
        try:
            message = record.getMessage()
        except Exception:  # broken format string: keep both parts, masked
            message = f"{record.msg} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


# ---------------------------------------------------------------- stderr


class JournalFormatter(logging.Formatter):
    """``<prio>level name: message`` — journald adds the timestamp and strips the prefix,
    and ``journalctl -p warning`` then filters by our levels."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prio = _SYSLOG_PRIORITY.get(record.levelno, 6)
        return f"<{prio}>{super().format(record)}"


def plain_formatter() -> logging.Formatter:
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def stream_is_journal(stream: TextIO, env: Mapping[str, str]) -> bool:
    """True if ``stream`` is connected to journald (systemd sets JOURNAL_STREAM=dev:inode).

    Comparing device and inode, as systemd.exec(5) advises, avoids dropping timestamps
    when stderr was redirected somewhere else by a wrapper.
    """
    value = env.get("JOURNAL_STREAM")
    if not value:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return True  # no real fd (tests, wrappers): trust the variable
    return value == f"{st.st_dev}:{st.st_ino}"


def setup_logging(
    settings: LoggingSettingsLike,
    *,
    stream: TextIO | None = None,
    env: Mapping[str, str] | None = None,
    redactor: SecretRedactor | None = None,
) -> SecretRedactor:
    """Configure the root logger; returns the redactor to register secrets with.

    Safe to call again (e.g. on reload): handlers installed earlier are replaced.
    """
    stream = sys.stderr if stream is None else stream
    env = os.environ if env is None else env
    redactor = SecretRedactor() if redactor is None else redactor
    level = parse_level(settings.level)
    mqtt_level = parse_level(settings.mqtt_level)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OWN_HANDLER, False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream)
    handler.setLevel(level)
    journal = stream_is_journal(stream, env)
    handler.setFormatter(JournalFormatter() if journal else plain_formatter())
    handler.addFilter(redactor)
    setattr(handler, _OWN_HANDLER, True)
    root.addHandler(handler)
    for mqtt_handler in root.handlers:  # a reload may change logging.mqtt_level
        if isinstance(mqtt_handler, MqttLogHandler):
            mqtt_handler.setLevel(mqtt_level)
    # The root passes the lower of both levels; each handler then applies its own.
    root.setLevel(min(level, mqtt_level))
    logging.captureWarnings(True)
    return redactor


# ---------------------------------------------------------------- MQTT


LogPayload = dict[str, str]
LogCallback = Callable[[LogPayload], None]


class MqttLogHandler(logging.Handler):
    """Forwards records to ``callback`` as {"level","message","namespace","ts"}.

    * identical (level, namespace, message) within ``dedupe_window_s`` are sent once;
    * at most ``burst`` messages at once, refilled at ``rate_per_s`` (token bucket), for
      warnings and above and, separately, for the lower levels;
    * a record logged *while* the callback runs (the publish path logging) is dropped,
      so a failing publish can never recurse into another publish;
    * with ``loop`` given, records from other threads reach the callback via that loop.
    """

    def __init__(
        self,
        callback: LogCallback,
        *,
        level: int | str = logging.WARNING,
        redactor: SecretRedactor | None = None,
        dedupe_window_s: float = 10.0,
        rate_per_s: float = 1.0,
        burst: int = 10,
        clock: Callable[[], float] = time.monotonic,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(parse_level(level) if isinstance(level, str) else level)
        self._callback = callback
        self._loop = loop
        self._dedupe_window_s = dedupe_window_s
        self._rate_per_s = rate_per_s
        self._burst = float(burst)
        # Warnings and errors have a bucket of their own: a flood of debug lines (mqtt_level
        # debug) must not crowd out the one error that matters.
        self._tokens = {False: float(burst), True: float(burst)}
        self._clock = clock
        self._last_refill = {False: clock(), True: clock()}
        self._recent: dict[tuple[int, str, str], float] = {}
        self._busy = threading.local()
        self.sent = 0
        self.deduplicated = 0
        self.rate_limited = 0
        self.failed = 0
        if redactor is not None:
            self.addFilter(redactor)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._busy, "active", False):
            return
        self._busy.active = True
        try:
            self._emit(record)
        finally:
            self._busy.active = False

    def _emit(self, record: logging.LogRecord) -> None:
        message = self._message(record)
        now = self._clock()
        if self._is_repeat((record.levelno, record.name, message), now):
            self.deduplicated += 1
            return
        if not self._take_token(now, record.levelno >= logging.WARNING):
            self.rate_limited += 1
            return
        payload = {
            "level": record.levelname.lower(),
            "message": message,
            "namespace": record.name,
            "ts": _iso(record.created),
        }
        loop = self._loop
        if loop is None or _running_loop() is loop:
            self._deliver(payload)
            return
        # Logged from another thread (e.g. asyncio.to_thread): the MQTT sink is not
        # thread-safe, so hand the payload to the loop.
        try:
            loop.call_soon_threadsafe(self._deliver_guarded, payload)
        except RuntimeError:  # loop closed during shutdown
            self.failed += 1

    def _deliver_guarded(self, payload: LogPayload) -> None:
        self._busy.active = True
        try:
            self._deliver(payload)
        finally:
            self._busy.active = False

    def _deliver(self, payload: LogPayload) -> None:
        try:
            self._callback(payload)
        except Exception:
            # Never log from here (that is the recursion we guard against); count it.
            self.failed += 1
            return
        self.sent += 1

    @staticmethod
    def _message(record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            # The last traceback line ("ValueError: …") is what a dashboard needs.
            message = f"{message} ({record.exc_text.splitlines()[-1]})"
        return message

    def _is_repeat(self, key: tuple[int, str, str], now: float) -> bool:
        window = self._dedupe_window_s
        if len(self._recent) > 256:  # bound memory under a flood of distinct messages
            self._recent = {k: t for k, t in self._recent.items() if now - t < window}
        last = self._recent.get(key)
        if last is not None and now - last < window:
            return True
        self._recent[key] = now
        return False

    def _take_token(self, now: float, important: bool) -> bool:
        elapsed = max(0.0, now - self._last_refill[important])
        self._last_refill[important] = now
        tokens = min(self._burst, self._tokens[important] + elapsed * self._rate_per_s)
        self._tokens[important] = tokens
        if tokens < 1.0:
            return False
        self._tokens[important] = tokens - 1.0
        return True


def install_mqtt_log_handler(
    settings: LoggingSettingsLike,
    callback: LogCallback,
    *,
    redactor: SecretRedactor,
    **options: Any,
) -> MqttLogHandler:
    """Attach an ``MqttLogHandler`` at ``settings.mqtt_level`` to the root logger.

    The caller removes it (``logging.getLogger().removeHandler``) before closing MQTT.
    """
    # Records logged from worker threads are handed to the daemon's loop by default.
    options.setdefault("loop", _running_loop())
    # Not marked as ours on purpose: a later setup_logging() (reload) must keep it.
    handler = MqttLogHandler(callback, level=settings.mqtt_level, redactor=redactor, **options)
    logging.getLogger().addHandler(handler)
    return handler


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _iso(created: float) -> str:
    return (
        datetime.fromtimestamp(created, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
