"""The recording container (bridge.tiktok.recording) and the plain length-prefixed captures."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bridge.tiktok import frames
from bridge.tiktok.pb import webcast_pb2 as pb
from bridge.tiktok.recording import (
    MAGIC,
    Kind,
    RecordingError,
    RecordingWriter,
    read_recording,
    to_batch,
)
from tests.helpers.paths import fixtures_dir

SYNTHETIC = fixtures_dir() / "synthetic"


def _result(text: str) -> pb.FetchResult:
    result = pb.FetchResult(cursor="c1")
    result.messages.add(method="WebcastChatMessage", payload=text.encode(), msg_id=42)
    return result


def test_written_records_read_back_in_order_with_header(tmp_path: Path) -> None:
    path = tmp_path / "r.t2mr"
    frame = frames.encode_msg_frame(
        _result("x"), seq_id=1, log_id=7, gzip=True, header_compress=True
    )
    with RecordingWriter(path, {"streamer": "alice"}) as writer:
        writer.write(Kind.FETCH_RESULT, _result("initial").SerializeToString(), t_us=0)
        writer.write(Kind.PUSH_FRAME, frame, t_us=1_500_000)
        writer.write(Kind.BATCH, _result("batch").SerializeToString())

    recording = read_recording(path)

    assert path.read_bytes().startswith(MAGIC)
    assert recording.streamer == "alice" and not recording.plain
    assert [r.kind for r in recording.records] == [Kind.FETCH_RESULT, Kind.PUSH_FRAME, Kind.BATCH]
    assert recording.records[1].t_us == 1_500_000
    assert recording.records[1].data == frame
    batches = [to_batch(r) for r in recording.records]
    assert [b.messages[0].msg_id for b in batches if b is not None] == [42, 42, 42]


def _plain(*chunks: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(c)) + c for c in chunks)


def test_plain_length_prefixed_capture_is_read(tmp_path: Path) -> None:
    names = ("frame_gzip.bin", "frame_hb.bin", "frame_plain.bin")
    path = tmp_path / "capture.bin"
    path.write_bytes(_plain(*((SYNTHETIC / n).read_bytes() for n in names)))

    recording = read_recording(path)

    assert recording.plain and recording.streamer is None
    assert [r.kind for r in recording.records] == [Kind.PUSH_FRAME] * 3
    batches = [to_batch(r) for r in recording.records]
    assert batches[1] is None  # the heartbeat carries no messages
    # 14 messages in two frames (one gzip-compressed), as the fixtures README says.
    counts = [len(b.messages) for b in batches if b is not None]
    assert counts == [7, 7]


def test_undecodable_frame_raises_frame_error_not_something_else(tmp_path: Path) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(_plain(b"\xff\x01\x02garbage"))
    (record,) = read_recording(path).records
    with pytest.raises(frames.FrameError):
        to_batch(record)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (_plain(b"abc")[:-1], "truncated record"),
        (b"\x01\x00", "truncated length"),
        (struct.pack("<I", 2**31) + b"x", "not plausible"),
        (MAGIC + struct.pack("<HI", 99, 0), "unsupported recording version 99"),
        (MAGIC + struct.pack("<HI", 1, 5) + b"nojs", "truncated or oversized header"),
        (MAGIC + struct.pack("<HI", 1, 2) + b"{}" + struct.pack("<IQB", 0, 0, 9), "kind 9"),
    ],
)
def test_damaged_files_are_refused_with_the_place(tmp_path: Path, data: bytes, words: str) -> None:
    path = tmp_path / "bad"
    path.write_bytes(data)
    with pytest.raises(RecordingError, match=words):
        read_recording(path)
