"""Pure pieces of the core (no I/O): token bucket, chat text, back-off, state, persistence."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bridge.core.chat import ChatGate, ChatRefused, sanitise
from bridge.core.commands import CommandError, parse_payload, streamer_request
from bridge.core.persist import RuntimeStore
from bridge.core.state import StreamerState
from bridge.core.streamer import Backoff
from bridge.ratelimit import TokenBucket
from bridge.settings.streamer import ChatSendSettings


class FakeClock:
    """Time as a plain number the test moves (time is an input, not a mock of behaviour)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_burst_then_refill() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5.0, 2, clock=clock)
    assert bucket.take() == 0 and bucket.take() == 0
    assert bucket.take() == pytest.approx(5.0)
    clock.now += 2.5
    assert bucket.take() == pytest.approx(2.5)
    clock.now += 2.5
    assert bucket.take() == 0


def test_sanitise_strips_control_characters() -> None:
    assert sanitise("a\nb\r\nc\td\x00e\u202ef  ") == "a b c def"
    assert sanitise("\n\n") == ""


def test_chat_gate_reasons() -> None:
    clock = FakeClock()
    gate = ChatGate(
        ChatSendSettings(enabled=True, min_interval_s=10, burst=1, max_length=5), clock=clock
    )
    with pytest.raises(ChatRefused, match="too long"):
        gate.prepare("123456", 1)
    with pytest.raises(ChatRefused, match="not live"):
        gate.prepare("hi", None)
    assert gate.prepare(" hi\n", 1) == "hi"
    with pytest.raises(ChatRefused, match=r"rate limited, retry in 10\.0 s"):
        gate.prepare("again", 1)
    with pytest.raises(ChatRefused, match="disabled"):
        ChatGate(ChatSendSettings(enabled=False)).prepare("x", 1)


def test_backoff_full_jitter_is_capped_and_resets() -> None:
    backoff = Backoff(5.0, 60.0, random.Random(1))
    delays = [backoff.next_delay() for _ in range(12)]
    assert all(1.0 <= d <= 60.0 for d in delays)
    assert max(delays[6:]) > 5.0  # it grows
    backoff.reset()
    assert backoff.failures == 0 and backoff.next_delay() <= 5.0


def test_state_totals_monotonic_and_reset_per_stream() -> None:
    state = StreamerState()
    state.start_stream(7, title="t", since=0.0)
    state.raise_likes(100)
    state.raise_likes(90)  # TikTok's total jittered backwards
    state.add_diamonds(5)
    assert state.likes == 100 and state.diamonds == 5
    state.start_stream(8, title=None, since=1.0)
    assert (state.likes, state.diamonds, state.room_id) == (0, 0, 8)
    state.set_status("rate_limited", retry_at=1_800_000_000.0)
    assert state.to_dict()["retry_at"] == "2027-01-15T08:00:00Z" and state.available
    state.set_status("blocked")
    assert "retry_at" not in state.to_dict() and not state.available


def test_runtime_store_round_trip_and_corrupt_file(tmp_path: Path) -> None:
    store = RuntimeStore(tmp_path)
    store.set_watch("alice", False)
    store.add_streamer("carol", {"events": ["gift"]})
    again = RuntimeStore(tmp_path)
    assert again.watch("alice") is False and again.watch("bob") is True
    assert again.streamers == {"carol": {"events": ["gift"]}}
    assert json.loads((tmp_path / "runtime.json").read_text())["version"] == 1
    (tmp_path / "runtime.json").write_text("{not json")
    assert RuntimeStore(tmp_path).watch("alice") is True  # safe default, no crash


def test_parse_payload_and_add_options() -> None:
    assert parse_payload(b"") == {}
    assert parse_payload(b"alice") == {"value": "alice"}
    assert parse_payload(b'"alice"') == {"value": "alice"}
    with pytest.raises(CommandError, match="invalid JSON"):
        parse_payload(b"{oops")
    with pytest.raises(CommandError, match="object"):
        parse_payload(b"[1]")
    settings, options = streamer_request(
        {"user": "https://www.tiktok.com/@Carol.X/live", "events": ["gift"]}, {}
    )
    assert (settings.user, options) == ("carol.x", {"events": ["gift"]})
    for bad in ({"user": "a/+/#"}, {"user": "ok", "events": ["nope"]}, {"user": "ok", "x": 1}):
        with pytest.raises(CommandError):
            streamer_request(bad, {})
