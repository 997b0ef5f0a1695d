"""Decode a frame container with the Python peer ``tiktoklive`` 7.0.1 (TTL-py).

Runs inside the bench venv (``bench/.venv``), never in the project's environment: TTL-py
pins betterproto2 / TikTokLiveProto, which must not leak into our test environment. It must
not import ``bridge``. Prints one JSON object on stdout.

The per-frame path mirrors TTL-py's own client (TikTokLive/client/ws/ws_connect.py and
client.py ``_parse_webcast_response``): ``WebcastPushFrame().parse(bytes)``, drop non-``msg``
frames, ``extract_webcast_response_message`` (compress_type header → GzipFile →
``ProtoMessageFetchResult().parse``), then per inner message the ``EVENT_MAPPINGS`` lookup,
``event_class().parse(payload)`` and ``handle_custom_event`` (follow/share/... events). Its
debug-log f-string and ``emit`` per event are left out, so the peer's figure is if anything
flattering to the peer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import sys
import time
from pathlib import Path
from typing import Any


def read_container(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return out


async def one_pass(
    client: Any, frames: list[bytes], budget_s: float = float("inf")
) -> tuple[int, int, int, int]:
    """(frames seen, msg frames, messages, events); stops after ``budget_s`` seconds."""
    from TikTokLive.client.ws.ws_utils import extract_webcast_response_message  # type: ignore[import-not-found]
    from TikTokLive.events.custom_events import WebsocketResponseEvent  # type: ignore[import-not-found]
    from TikTokLive.proto import WebcastPushFrame  # type: ignore[import-not-found]

    n_seen = n_frames = n_messages = n_events = 0
    deadline = time.perf_counter() + budget_s
    for data in frames:
        if n_seen and n_seen % 10 == 0 and time.perf_counter() > deadline:
            break
        n_seen += 1
        try:
            frame = WebcastPushFrame().parse(data)
            if frame.payload_type != "msg":
                continue
            response = extract_webcast_response_message(frame)
        except Exception:  # TTL-py lets these escape and drops the connection; we skip
            continue
        n_frames += 1
        n_messages += len(response.messages)
        async for event in client._parse_webcast_response(response):
            if not isinstance(event, WebsocketResponseEvent):
                n_events += 1
    return n_seen, n_frames, n_messages, n_events


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    import logging
    from importlib.metadata import version

    from TikTokLive import TikTokLiveClient  # type: ignore[import-not-found]

    frames = read_container(Path(args.corpus))
    client = TikTokLiveClient(unique_id="bench")
    client._room_id = 7301234567890123456
    # Its parse-error log lines would be counted as decode time otherwise.
    logging.getLogger("TikTokLive").setLevel(logging.CRITICAL)
    # Warm-up pass: betterproto2 builds each message class lazily on first use (compile(),
    # pydantic schemas), a one-off cost that must not count as decoding. The timed pass
    # then decodes exactly the frames the warm-up reached.
    seen = (await one_pass(client, frames, args.seconds))[0]
    frames = frames[:seen]
    # The peer is slow: it decodes only as many leading frames as fit in the time budget;
    # the caller measures our decoder on exactly the same frames.
    start = time.perf_counter()
    seen, msg_frames, messages, events = await one_pass(client, frames)
    elapsed = time.perf_counter() - start
    await client._web.close()
    return {
        "decoder": "tiktoklive",
        "version": version("tiktoklive"),
        "frames_seen": seen,
        "frames": msg_frames,
        "messages": messages,
        "events": events,
        "seconds": elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("--seconds", type=float, default=10.0, help="time budget")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
