"""Decode benchmark: push frames → typed events, side by side with the raw protobuf parse
(the ceiling) and the Python peer tiktoklive (in its own venv, same frames).

Our path is exactly what a live connection does per binary WebSocket message
(bridge/tiktok/push.py ``_handle`` + bridge/core/streamer.py ``_read``): ``decode_frame``,
drop non-``msg`` frames, ``decode_msg_frame`` (gunzip by header or magic, FetchResult), then
``StreamProcessor.feed`` (dedupe, per-method protobuf parse, event building, like windows,
gift streaks). Publishing is not part of it (see the e2e and cost benches).
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge.events import StreamProcessor
from bridge.tiktok import frames
from bridge.tiktok.pb import webcast_pb2 as pb

PEER_SCRIPT = Path(__file__).with_name("peer_decode.py")


@dataclass(frozen=True, slots=True)
class Rate:
    name: str
    frames: int
    messages: int
    events: int
    seconds: float  # median seconds of one pass

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    @property
    def us_per_msg(self) -> float:
        return 1e6 * self.seconds / self.messages if self.messages else 0.0


Counts = tuple[int, int, int]  # msg frames, messages, events


def ours_pass(frame_list: Sequence[bytes]) -> Counts:
    processor = StreamProcessor(7301234567890123456)
    n_frames = n_messages = n_events = 0
    now = 1000.0
    for data in frame_list:
        try:
            frame = frames.decode_frame(data)
            if frame.payload_type != "msg":
                continue
            result = frames.decode_msg_frame(frame)
        except frames.FrameError:
            continue
        n_frames += 1
        n_messages += len(result.messages)
        # 10 ms between frames of one room: like windows (1 s) close as they do live.
        now += 0.01
        n_events += len(processor.feed(result, now))
    n_events += len(processor.flush())
    return n_frames, n_messages, n_events


def _raw_classes() -> dict[str, type[pb.CommonOnly]]:
    return dict(frames.MESSAGE_TYPES)  # type: ignore[arg-type]


def raw_pass(frame_list: Sequence[bytes]) -> Counts:
    """The ceiling: only upb parses (and gunzip), no checks, no Python objects of ours.

    Every inner message is parsed with its schema class (``frames.MESSAGE_TYPES``), the
    long tail with ``CommonOnly`` (its common part), as our processor does.
    """
    classes = _raw_classes()
    common_only = pb.CommonOnly
    push_frame, fetch_result = pb.PushFrame, pb.FetchResult
    n_frames = n_messages = 0
    for data in frame_list:
        frame = push_frame.FromString(data)
        if frame.payload_type != "msg":
            continue
        payload = frame.payload
        if payload[:2] == b"\x1f\x8b":
            payload = zlib.decompress(payload, 31)
        result = fetch_result.FromString(payload)
        n_frames += 1
        for inner in result.messages:
            classes.get(inner.method, common_only).FromString(inner.payload)
            n_messages += 1
    return n_frames, n_messages, 0


def codec_pass(frame_list: Sequence[bytes]) -> Counts:
    """frames.py alone (frame + gunzip + fetch result), for the codec-vs-raw comparison."""
    n_frames = n_messages = 0
    for data in frame_list:
        frame = frames.decode_frame(data)
        if frame.payload_type != "msg":
            continue
        result = frames.decode_msg_frame(frame)
        n_frames += 1
        n_messages += len(result.messages)
    return n_frames, n_messages, 0


def raw_codec_pass(frame_list: Sequence[bytes]) -> Counts:
    n_frames = n_messages = 0
    for data in frame_list:
        frame = pb.PushFrame.FromString(data)
        if frame.payload_type != "msg":
            continue
        payload = frame.payload
        if payload[:2] == b"\x1f\x8b":
            payload = zlib.decompress(payload, 31)
        result = pb.FetchResult.FromString(payload)
        n_frames += 1
        n_messages += len(result.messages)
    return n_frames, n_messages, 0


def measure(
    name: str, fn: Callable[[Sequence[bytes]], Counts], frame_list: Sequence[bytes], min_s: float
) -> Rate:
    """Median of repeated whole passes (at least 3, until ``min_s`` has passed)."""
    counts = fn(frame_list)  # warm-up (imports, caches, first allocations)
    times: list[float] = []
    deadline = time.perf_counter() + min_s
    gc.collect()
    while len(times) < 3 or time.perf_counter() < deadline:
        start = time.perf_counter()
        counts = fn(frame_list)
        times.append(time.perf_counter() - start)
    return Rate(name, *counts, statistics.median(times))


@dataclass(frozen=True, slots=True)
class PeerResult:
    rate: Rate | None
    frames_used: int  # leading frames of the corpus the peer decoded
    version: str
    error: str | None = None


def run_peer(python: Path | None, container: Path, seconds: float) -> PeerResult:
    """tiktoklive on the container, in the bench venv; None when it is not available."""
    if python is None:
        return PeerResult(None, 0, "-", "bench venv with tiktoklive not available")
    proc = subprocess.run(
        [str(python), str(PEER_SCRIPT), str(container), "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds * 4 + 120,
        check=False,
    )
    if proc.returncode != 0:
        return PeerResult(None, 0, "-", proc.stderr.strip().splitlines()[-1:][0][:200])
    data = json.loads(proc.stdout)
    rate = Rate("tiktoklive", data["frames"], data["messages"], data["events"], data["seconds"])
    return PeerResult(rate, int(data["frames_seen"]), str(data["version"]))


def compressed(frame_list: Sequence[bytes], *, gzip: bool) -> list[bytes]:
    """The same frames re-encoded with the payload gzip'd or plain (codec comparison)."""
    out: list[bytes] = []
    for data in frame_list:
        frame = frames.decode_frame(data)
        result = frames.decode_msg_frame(frame)
        out.append(
            frames.encode_msg_frame(
                result,
                seq_id=frame.seq_id,
                log_id=frame.log_id,
                gzip=gzip,
                header_compress=True,
                headers={"im-cursor": result.cursor},
            )
        )
    return out
