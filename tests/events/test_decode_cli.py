"""`tiktok2mqtt decode` as a user runs it (subprocess, real files)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.events._support import validator
from tests.helpers.paths import REPO, fixtures_dir

SYN = fixtures_dir() / "synthetic"


def _run(*args: str | Path, stdin: bytes | None = None) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", "decode", *map(str, args)],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    lines = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    return proc.returncode, lines, proc.stderr.decode("utf-8")


def test_frames_to_json_lines() -> None:
    rc, lines, _ = _run(
        SYN / "frame_gzip.bin",
        SYN / "frame_plain.bin",
        SYN / "frame_hb.bin",
        "--streamer",
        "demo",
        "--tiers",
    )
    assert rc == 0
    assert [d["type"] for d in lines] == [
        "viewers",
        "member",
        "chat",
        "gift",
        "gift",
        "like",
        "follow",
        "share",
        "stream",
    ]
    assert all(d["streamer"] == "demo" for d in lines)
    rose, lion = (d for d in lines if d["type"] == "gift")
    assert (rose["count"], rose["diamonds"], rose["event_type"]) == (5, 5, "gift_small")
    assert (lion["diamonds"], lion["event_type"]) == (29999, "gift_large")
    assert lines[2]["text"] == "hello from ann 👋"
    assert lines[0]["room_id"] == "7301234567890123456"
    for d in lines:
        assert not list(validator(d["type"]).iter_errors(d))


def test_base64_stdin_and_single_message_with_method() -> None:
    b64 = base64.b64encode((SYN / "msg_09_WebcastGiftMessage.bin").read_bytes())
    rc, lines, _ = _run("-", "--method", "WebcastGiftMessage", stdin=b64)
    assert rc == 0
    assert [(d["gift"]["name"], d["final"]) for d in lines] == [("Lion", True)]


def test_single_message_is_detected_from_its_common_method() -> None:
    rc, lines, _ = _run(SYN / "msg_02_WebcastChatMessage.bin")
    assert rc == 0 and [d["type"] for d in lines] == ["chat"]


def test_open_streak_is_flushed_at_end_of_input() -> None:
    rc, lines, _ = _run(
        SYN / "msg_03_WebcastGiftMessage.bin", SYN / "msg_04_WebcastGiftMessage.bin"
    )
    assert rc == 0
    assert [(d["count"], d["final"]) for d in lines] == [(2, True)]


def test_unreadable_input_fails_with_a_message(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff\xff\xff\xff not protobuf")
    rc, lines, err = _run(junk)
    assert rc != 0 and lines == []
    assert "junk.bin" in err
    rc, _, err = _run(tmp_path / "missing.bin")
    assert rc != 0 and "cannot read" in err


def test_damaged_real_frame_is_rejected_cleanly() -> None:
    damaged = fixtures_dir() / "real-2023/single-messages/WebcastWebsocketMessage.bin"
    rc, _, err = _run(damaged)
    assert rc != 0 and "Traceback" not in err


def test_stats_and_whole_schema() -> None:
    rc, lines, err = _run(SYN / "response_all.bin", "--stats")
    assert rc == 0 and "decoded=14" in err
    assert len(lines) == 9
    for d in lines:
        assert not list(validator().iter_errors(d))
