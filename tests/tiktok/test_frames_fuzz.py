"""Property tests: hostile bytes never make the codec raise anything but FrameError,
and never make an inner-message class raise anything but DecodeError."""

from __future__ import annotations

import contextlib
import gzip
from functools import cache
from typing import Any

from google.protobuf.message import DecodeError, Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.tiktok import frames
from bridge.tiktok.frames import FrameError
from bridge.tiktok.pb import webcast_pb2 as pb
from tests.helpers.paths import fixtures_dir

# No deadline: the properties are about outcomes, never about speed.
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INNER_CLASSES: list[type[Message]] = [
    *frames.MESSAGE_TYPES.values(),
    pb.CommonOnly,
    pb.HeartBeatMessage,
    pb.ImEnterRoomMessage,
]


@cache
def real_frames() -> tuple[bytes, ...]:
    synthetic = fixtures_dir() / "synthetic"
    return tuple(
        (synthetic / name).read_bytes()
        for name in ("frame_gzip.bin", "frame_plain.bin", "frame_hb.bin")
    )


def touch_everything(message: Message) -> int:
    """Read every set field recursively, as the events layer would; returns a count so
    the work can't be optimised away and the test has something to check."""
    seen = 0
    for field, value in message.ListFields():
        seen += 1
        if field.message_type is None:
            values: list[Any] = list(value) if field.is_repeated else [value]
            for item in values:
                if isinstance(item, str | bytes):
                    assert isinstance(frames.as_text(item), str)
        elif field.message_type.GetOptions().map_entry:
            for item in value.values():
                if isinstance(item, Message):
                    seen += touch_everything(item)
        elif field.is_repeated:
            for item in value:
                seen += touch_everything(item)
        else:
            seen += touch_everything(value)
    return seen


def pipeline(data: bytes) -> int:
    """What the push session does with one WebSocket message. Returns messages seen."""
    frame = frames.decode_frame(data)
    for h in frame.headers:
        frames.as_text(h.key)
    if frame.payload_type != "msg":
        return 0
    result = frames.decode_msg_frame(frame)
    frames.route_params(result)
    frames.as_text(result.internal_ext)
    count = 0
    for method, inner in frames.iter_messages(result):
        cls = frames.parser(frames.MESSAGE_TYPES.get(method, pb.CommonOnly))
        # The events layer counts a DecodeError as one bad message and goes on.
        with contextlib.suppress(DecodeError):
            touch_everything(cls.FromString(inner.payload))
        count += 1
    return count


def survives(data: bytes) -> bool:
    """True if decoded, False if refused with FrameError; anything else propagates."""
    try:
        pipeline(data)
    except FrameError:
        return False
    return True


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_only_frame_error(data: bytes) -> None:
    survives(data)
    try:
        result = frames.decode_fetch_result(data)
    except FrameError:
        return
    # pb.FetchResult, or wire.py's object of the same type with pure-Python protobuf.
    assert result.DESCRIPTOR.full_name == "webcast.FetchResult"


@FUZZ
@given(st.sampled_from(range(3)), st.data())
def test_bit_flips_in_real_frames(index: int, data: st.DataObject) -> None:
    frame = bytearray(real_frames()[index])
    flips = data.draw(st.lists(st.integers(0, len(frame) * 8 - 1), min_size=1, max_size=8))
    for bit in flips:
        frame[bit // 8] ^= 1 << (bit % 8)
    survives(bytes(frame))


@FUZZ
@given(st.sampled_from(range(3)), st.data())
def test_truncated_and_extended_real_frames(index: int, data: st.DataObject) -> None:
    frame = real_frames()[index]
    cut = data.draw(st.integers(0, len(frame)))
    tail = data.draw(st.binary(max_size=64))
    # Cutting at the end changes nothing: that one must still decode.
    assert survives(frame[:cut]) or cut < len(frame)
    survives(frame[:cut] + tail)


@FUZZ
@given(st.data())
def test_corrupted_gzip_payload(data: st.DataObject) -> None:
    original = frames.decode_frame(real_frames()[0])
    payload = bytearray(original.payload)
    # Keep the magic so that the corruption reaches the decompressor, not the sniffing.
    position = data.draw(st.integers(3, len(payload) - 1))
    payload[position] = data.draw(st.integers(0, 255).filter(lambda b: b != payload[position]))
    cut = data.draw(st.integers(3, len(payload)))
    rebuilt = frames.encode_frame(
        "msg", bytes(payload[:cut]), headers={"compress_type": "gzip"}, log_id=1
    )
    try:
        result = frames.decode_msg_frame(frames.decode_frame(rebuilt))
    except FrameError:
        return
    # Rarely a flip lands in a don't-care byte (gzip header flags, mtime): still valid.
    # pb.FetchResult, or wire.py's object of the same type with pure-Python protobuf.
    assert result.DESCRIPTOR.full_name == "webcast.FetchResult"


@FUZZ
@given(st.binary(max_size=512), st.sampled_from(["gzip", "none", "GZIP", "", "br"]))
def test_gunzip_on_random_payloads(payload: bytes, compress_type: str) -> None:
    frame = pb.PushFrame(
        payload=payload, headers=[pb.PushHeader(key="compress_type", value=compress_type)]
    )
    try:
        out = frames.gunzip_if_needed(frame)
    except FrameError:
        assert frames.is_gzip(frame)
        return
    assert isinstance(out, bytes)
    if not frames.is_gzip(frame):
        assert out == payload


@FUZZ
@given(st.binary(max_size=4096))
def test_gzip_of_random_bytes_roundtrips(raw: bytes) -> None:
    frame = pb.PushFrame(payload=gzip.compress(raw, mtime=0))
    assert frames.gunzip_if_needed(frame) == raw


@FUZZ
@given(st.sampled_from(INNER_CLASSES), st.binary(max_size=1024))
def test_inner_classes_on_random_bytes(cls: type[Message], data: bytes) -> None:
    try:
        message = cls.FromString(data)
    except DecodeError:
        return
    assert touch_everything(message) >= 0


@FUZZ
@given(st.sampled_from(INNER_CLASSES), st.data())
def test_inner_classes_on_mutated_real_payloads(cls: type[Message], data: st.DataObject) -> None:
    result = frames.decode_fetch_result(
        (fixtures_dir() / "synthetic" / "response_all.bin").read_bytes()
    )
    payload = bytearray(data.draw(st.sampled_from(list(result.messages))).payload)
    position = data.draw(st.integers(0, len(payload) - 1))
    payload[position] ^= data.draw(st.integers(1, 255))
    try:
        cut = bytes(payload[: data.draw(st.integers(0, len(payload)))])
        message = frames.parser(cls).FromString(cut)
    except DecodeError:
        return
    assert touch_everything(message) >= 0


def test_real_frames_survive_unmodified() -> None:
    assert [pipeline(frame) for frame in real_frames()] == [7, 7, 0]
