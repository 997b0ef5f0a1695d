"""Fuzzed HTTP answers (HTML, JSON, binary, any status and headers) served from a tiny
loopback server to the real TikTokClient: every call ends in a result or a TikTokError —
never another exception, never a hang. (Frames, inner messages and config files have
their own property tests: tests/tiktok/test_frames_fuzz.py, tests/events/test_fuzz.py,
tests/config/test_fuzz.py.)"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.settings.tiktok import Endpoints, TikTokSettings
from bridge.tiktok.budget import CallBudget
from bridge.tiktok.client import TikTokClient
from bridge.tiktok.errors import TikTokError

FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
# Shapes close to the real answers make the fuzzer reach deep into the parsers.
KEYS = [
    "data",
    "user",
    "liveRoom",
    "roomId",
    "status",
    "status_code",
    "gifts",
    "id",
    "name",
    "diamond_count",
    "owner",
    "title",
    "stats",
    "message",
    "code",
    "room_id",
]
tiktokish = st.recursive(
    st.none() | st.integers(-(2**70), 2**70) | st.text(max_size=20) | st.booleans(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)
    ),
    max_leaves=25,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["json", "tiktok", "html", "bytes", "empty"]))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "tiktok":
        return json.dumps(draw(tiktokish)).encode()
    if kind == "html":
        inner = draw(st.text(max_size=200))
        script = json.dumps(draw(tiktokish))
        return (
            f'<html><script id="SIGI_STATE">{script}</script>'
            f'<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">{inner}</script></html>'
        ).encode(errors="surrogatepass")
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    return b""


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: list[tuple[str, str]]


answers = st.builds(
    Answer,
    status=st.sampled_from([200, 200, 200, 204, 301, 400, 403, 404, 429, 500, 502, 503]),
    body=bodies(),
    content_type=st.sampled_from(["application/json", "text/html", "application/x-protobuf", ""]),
    headers=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "RateLimit-Reset",
                    "Retry-After",
                    "Set-Cookie",
                    "X-Set-TT-Cookie",
                    "Location",
                    "X-Room-Id",
                ]
            ),
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
        ),
        max_size=3,
    ),
)


async def serve_and_call(answer: Answer) -> list[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline() not in (b"\r\n", b""):
                pass
            head = [f"HTTP/1.1 {answer.status} X", f"Content-Length: {len(answer.body)}"]
            if answer.content_type:
                head.append(f"Content-Type: {answer.content_type}")
            head += [f"{k}: {v}" for k, v in answer.headers]
            head.append("Connection: close")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + answer.body)
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    settings_ = TikTokSettings(
        connection="direct",
        endpoints=Endpoints(
            www=url, webcast=url, websocket=url.replace("http", "ws"), sign_server=url
        ),
        http_timeout_s=5,
    )
    room = 7_000_000_000_000_000_001
    calls: list[Any] = [
        lambda c: c.resolve("alice"),
        lambda c: c.check_live(room),
        lambda c: c.room_info(room),
        lambda c: c.gift_catalogue(room),
    ]
    outcomes: list[str] = []
    try:
        for call in calls:
            # A client (and call budget) per call: a fuzzed 429 with Retry-After rightly
            # blocks the next call of the same client for that long; that is not a hang.
            client = TikTokClient(settings_, budget=CallBudget(100_000, burst=100_000))
            try:
                await asyncio.wait_for(call(client), 20)
                outcomes.append("ok")
            except TikTokError as exc:
                assert str(exc) is not None
                outcomes.append(type(exc).__name__)
            finally:
                await client.aclose()
    finally:
        server.close()
        await server.wait_closed()
    return outcomes


def check(answer: Answer) -> None:
    # Anything but a TikTokError (or a hang: TimeoutError) escapes and fails the example.
    outcomes = asyncio.run(serve_and_call(answer))
    assert len(outcomes) == 4


# Generous: on a loaded CI machine 40 examples × 4 calls may exceed the default 120 s.
@pytest.mark.timeout(600)
@FAST
@given(answers)
def test_fuzzed_http_answers_only_raise_tiktok_errors(answer: Answer) -> None:
    check(answer)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@LONG
@given(answers)
def test_fuzzed_http_answers_long_run(answer: Answer) -> None:
    check(answer)
