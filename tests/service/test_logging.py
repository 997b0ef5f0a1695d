"""setup_logging, SecretRedactor and MqttLogHandler."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.service.logging import (
    MqttLogHandler,
    SecretRedactor,
    install_mqtt_log_handler,
    parse_level,
    setup_logging,
    stream_is_journal,
)

SECRET = "hunter2-S3cret"


@dataclass(frozen=True)
class Settings:  # the shape of bridge.settings.service.LoggingSettings
    level: str = "info"
    mqtt_level: str = "warning"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stderr(restore: logging.Logger, settings: Settings = Settings(), **env: str) -> io.StringIO:
    stream = io.StringIO()
    redactor = setup_logging(settings, stream=stream, env=env)
    redactor.register(SECRET, None, "")
    return stream


# ---------------------------------------------------------------- stderr format


def test_plain_format_has_timestamps(restore_root_logger: logging.Logger) -> None:
    stream = _stderr(restore_root_logger)
    logging.getLogger("bridge.x").warning("hello")
    line = stream.getvalue().splitlines()[0]
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING bridge\.x: hello$", line)


def test_journal_format_has_priority_prefix_and_no_timestamp(
    restore_root_logger: logging.Logger,
) -> None:
    stream = _stderr(restore_root_logger, JOURNAL_STREAM="8:1234")
    logging.getLogger("bridge.x").warning("hello")
    logging.getLogger("bridge.y").error("boom")
    assert stream.getvalue().splitlines() == [
        "<4>WARNING bridge.x: hello",
        "<3>ERROR bridge.y: boom",
    ]


def test_journal_detection_compares_device_and_inode(tmp_path: Path) -> None:
    with (tmp_path / "log").open("w") as fh:
        st = (tmp_path / "log").stat()
        assert stream_is_journal(fh, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        assert not stream_is_journal(fh, {"JOURNAL_STREAM": "1:2"})  # stderr redirected
        assert not stream_is_journal(fh, {})


def test_level_filters_stderr(restore_root_logger: logging.Logger) -> None:
    stream = _stderr(restore_root_logger, Settings(level="warning", mqtt_level="info"))
    log = logging.getLogger("bridge.x")
    log.info("quiet")
    log.warning("loud")
    assert stream.getvalue().count("\n") == 1
    assert "loud" in stream.getvalue()
    # the root lets info through for an MQTT handler at "info"
    assert restore_root_logger.level == logging.INFO


def test_setup_twice_replaces_its_handler(restore_root_logger: logging.Logger) -> None:
    before = len(restore_root_logger.handlers)
    _stderr(restore_root_logger)
    second = _stderr(restore_root_logger)
    logging.getLogger("bridge.x").warning("once")
    assert len(restore_root_logger.handlers) == before + 1
    assert second.getvalue().count("once") == 1


def test_unknown_level_is_rejected() -> None:
    assert parse_level(" DEBUG ") == logging.DEBUG
    with pytest.raises(ValueError, match="verbose"):
        parse_level("verbose")


# ---------------------------------------------------------------- redaction


def test_secret_in_message_is_masked(restore_root_logger: logging.Logger) -> None:
    stream = _stderr(restore_root_logger)
    logging.getLogger("bridge.x").info(f"connecting with password {SECRET}")
    assert SECRET not in stream.getvalue()
    assert "connecting with password ***" in stream.getvalue()


def test_secret_in_args_is_masked(restore_root_logger: logging.Logger) -> None:
    stream = _stderr(restore_root_logger)
    log = logging.getLogger("bridge.x")
    log.info("password=%s", SECRET)
    log.info("config %r", {"mqtt": {"password": SECRET}})
    log.info("%(pw)s in a mapping", {"pw": SECRET})
    text = stream.getvalue()
    assert SECRET not in text
    assert "password=***" in text
    assert "{'mqtt': {'password': '***'}}" in text
    assert "*** in a mapping" in text


def test_secret_in_exception_is_masked(restore_root_logger: logging.Logger) -> None:
    stream = _stderr(restore_root_logger)
    try:
        raise ConnectionError(f"auth failed for {SECRET}")
    except ConnectionError:
        logging.getLogger("bridge.x").exception("connect failed")
    text = stream.getvalue()
    assert SECRET not in text
    assert "ConnectionError: auth failed for ***" in text
    assert "Traceback (most recent call last)" in text


def test_url_encoded_and_overlapping_secrets() -> None:
    redactor = SecretRedactor(["p@ss:word", "abc", "abcdef"])
    assert redactor.redact("socks5://me:p%40ss%3Aword@proxy:1080") == "socks5://me:***@proxy:1080"
    assert redactor.redact("abcdef abc") == "*** ***"  # the longer one whole, no "***def"


def test_no_secrets_leaves_records_untouched() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s", ("b",), None)
    assert SecretRedactor().filter(record)
    assert record.args == ("b",)


def test_broken_format_string_still_masked() -> None:
    redactor = SecretRedactor([SECRET])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", (SECRET,), None)
    redactor.filter(record)
    assert SECRET not in record.getMessage()


# ---------------------------------------------------------------- MQTT handler


def _mqtt(
    callback: Callable[[dict[str, str]], None] | None = None, **options: object
) -> tuple[MqttLogHandler, list[dict[str, str]], logging.Logger]:
    sent: list[dict[str, str]] = []
    handler = MqttLogHandler(callback or sent.append, **options)  # type: ignore[arg-type]
    log = logging.getLogger(f"bridge.test_mqtt_{id(handler)}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    return handler, sent, log


def test_mqtt_payload_shape() -> None:
    _, sent, log = _mqtt()
    log.warning("broker slow: %d ms", 250)
    assert len(sent) == 1
    payload = sent[0]
    assert set(payload) == {"level", "message", "namespace", "ts"}
    assert payload["level"] == "warning"
    assert payload["message"] == "broker slow: 250 ms"
    assert payload["namespace"] == log.name
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", payload["ts"])


def test_mqtt_only_at_or_above_its_level() -> None:
    _, sent, log = _mqtt(level="error")
    log.warning("not sent")
    log.error("sent")
    assert [p["message"] for p in sent] == ["sent"]
    _, none_sent, log_off = _mqtt(level="off")
    log_off.critical("never")
    assert none_sent == []


def test_mqtt_output_is_redacted_including_exception() -> None:
    _, sent, log = _mqtt(redactor=SecretRedactor([SECRET]))
    log.warning("login %s", SECRET)
    try:
        raise PermissionError(f"session {SECRET} expired")
    except PermissionError:
        log.exception("watch failed")
    assert SECRET not in repr(sent)
    assert sent[0]["message"] == "login ***"
    assert sent[1]["message"] == "watch failed (PermissionError: session *** expired)"


def test_mqtt_deduplicates_within_window() -> None:
    clock = Clock()
    handler, sent, log = _mqtt(clock=clock, dedupe_window_s=10.0)
    for _ in range(5):
        log.warning("broker unreachable")
    log.error("broker unreachable")  # other level: a different message
    clock.now += 10.5
    log.warning("broker unreachable")
    assert [p["level"] for p in sent] == ["warning", "error", "warning"]
    assert handler.deduplicated == 4


def test_mqtt_rate_limit_is_a_token_bucket() -> None:
    clock = Clock()
    handler, sent, log = _mqtt(clock=clock, burst=3, rate_per_s=1.0)
    for i in range(5):
        log.warning("distinct %d", i)
    assert len(sent) == 3
    assert handler.rate_limited == 2
    clock.now += 2.0  # two tokens back
    for i in range(5, 8):
        log.warning("distinct %d", i)
    assert [p["message"] for p in sent][-2:] == ["distinct 5", "distinct 6"]
    assert handler.rate_limited == 3


def test_mqtt_publish_that_logs_does_not_recurse() -> None:
    calls: list[str] = []
    log = logging.getLogger("bridge.test_recursion")
    log.propagate = False

    def publish(payload: dict[str, str]) -> None:
        calls.append(payload["message"])
        log.error("publish failed for %s", payload["message"])  # the sink logging

    handler = MqttLogHandler(publish)
    log.addHandler(handler)
    try:
        log.warning("first")
    finally:
        log.removeHandler(handler)
    assert calls == ["first"]


def test_mqtt_callback_error_is_counted_not_raised() -> None:
    def publish(payload: dict[str, str]) -> None:
        raise RuntimeError("not connected")

    handler = MqttLogHandler(publish)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "m", None, None)
    handler.handle(record)
    assert handler.failed == 1
    assert handler.sent == 0


def test_install_mqtt_handler_survives_setup_logging_again(
    restore_root_logger: logging.Logger,
) -> None:
    sent: list[dict[str, str]] = []
    settings = Settings(level="warning", mqtt_level="info")
    redactor = setup_logging(settings, stream=io.StringIO(), env={})
    redactor.register(SECRET)
    handler = install_mqtt_log_handler(settings, sent.append, redactor=redactor)
    setup_logging(settings, stream=io.StringIO(), env={}, redactor=redactor)  # a reload
    assert handler in restore_root_logger.handlers
    logging.getLogger("bridge.x").info("token %s", SECRET)
    assert [p["message"] for p in sent] == ["token ***"]


async def test_mqtt_records_from_threads_are_delivered_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    threads: list[int] = []

    def publish(payload: dict[str, str]) -> None:
        threads.append(threading.get_ident())

    handler, _, log = _mqtt(publish, loop=loop)
    log.warning("from the loop")
    await asyncio.to_thread(log.warning, "from a worker thread")
    await asyncio.sleep(0.05)  # the call_soon_threadsafe hop
    assert threads == [threading.get_ident()] * 2
    assert handler.sent == 2


async def test_reload_updates_the_mqtt_level(restore_root_logger: logging.Logger) -> None:
    sent: list[dict[str, str]] = []
    redactor = setup_logging(Settings(mqtt_level="error"), stream=io.StringIO(), env={})
    handler = install_mqtt_log_handler(Settings(mqtt_level="error"), sent.append, redactor=redactor)
    log = logging.getLogger("bridge.x")
    log.warning("dropped")
    setup_logging(Settings(mqtt_level="warning"), stream=io.StringIO(), env={}, redactor=redactor)
    log.warning("published")
    await asyncio.sleep(0)
    assert [p["message"] for p in sent] == ["published"]
    assert handler.level == logging.WARNING
