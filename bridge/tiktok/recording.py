"""Recordings of push traffic: the container `tiktok2mqtt record` writes and `replay` reads.

It lives in bridge.tiktok because it stores what the source layer receives (push frames,
fetch results) before any decoding into events; docs/recording.md is the format's spec.

    T2MR (4 bytes) | version u16 LE | header length u32 LE | header (UTF-8 JSON)
    then records:  length u32 LE | t_us u64 LE (since the start) | kind u8 | `length` bytes

Kinds: 1 = a raw push frame (one binary WebSocket message), 2 = the sign server's initial
fetch result, 3 = one decoded `msg` batch (FetchResult bytes) when raw frames were not
available to the recorder. All little-endian, so files are portable between machines.

The reader also accepts the plain capture format of public WebCast capture sets: records
of (u32 LE length, frame bytes) with no header and no timestamps.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, BinaryIO

from bridge.tiktok import frames
from bridge.tiktok.pb import webcast_pb2 as pb

__all__ = [
    "MAGIC",
    "VERSION",
    "Kind",
    "Record",
    "Recording",
    "RecordingError",
    "RecordingWriter",
    "events_in",
    "parse_recording",
    "read_recording",
    "to_batch",
]

MAGIC = b"T2MR"
VERSION = 1
_PREAMBLE = struct.Struct("<4sHI")  # magic, version, header length
_RECORD = struct.Struct("<QB")  # t_us, kind (after the u32 length)
_LENGTH = struct.Struct("<I")
# Real frames are KiB; a bigger length means a damaged file, not a frame to allocate for.
MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024


class Kind(IntEnum):
    PUSH_FRAME = 1
    FETCH_RESULT = 2
    BATCH = 3


class RecordingError(ValueError):
    """The file is not a recording, or is damaged (the message says where)."""


@dataclass(frozen=True, slots=True)
class Record:
    t_us: int  # microseconds since the recording started (0 in plain captures)
    kind: Kind
    data: bytes


@dataclass(frozen=True, slots=True)
class Recording:
    records: list[Record]
    header: Mapping[str, Any] = field(default_factory=dict)  # streamer, started_at, ...
    plain: bool = False  # read from the header-less length-prefixed capture format

    @property
    def streamer(self) -> str | None:
        value = self.header.get("streamer")
        return value if isinstance(value, str) and value else None


class RecordingWriter:
    """Append-only writer; every record is flushed so a crash keeps what was captured."""

    def __init__(self, path: str | Path, header: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.count = 0
        self._started = time.monotonic()
        self._file: BinaryIO = self.path.open("wb")
        meta = json.dumps(dict(header), ensure_ascii=False, sort_keys=True).encode("utf-8")
        self._file.write(_PREAMBLE.pack(MAGIC, VERSION, len(meta)) + meta)
        self._file.flush()

    def write(self, kind: Kind, data: bytes, *, t_us: int | None = None) -> None:
        if len(data) > MAX_RECORD_BYTES:
            raise RecordingError(f"record of {len(data)} bytes exceeds {MAX_RECORD_BYTES}")
        if t_us is None:
            t_us = round((time.monotonic() - self._started) * 1_000_000)
        self._file.write(_LENGTH.pack(len(data)) + _RECORD.pack(t_us, kind) + data)
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_recording(path: str | Path) -> Recording:
    """A recording or a plain length-prefixed capture (detected by the magic bytes)."""
    return parse_recording(Path(path).read_bytes())


def parse_recording(data: bytes) -> Recording:
    """:func:`read_recording` of bytes already read."""
    if data.startswith(MAGIC):
        return _read_container(data)
    try:
        return Recording(records=list(_plain_records(data)), plain=True)
    except RecordingError as exc:
        raise RecordingError(
            f"neither a tiktok2mqtt recording (no T2MR header) nor a plain frame capture: {exc}"
        ) from None


def events_in(recording: Recording) -> int:
    """How many records carry messages (what a replay or decode would produce events from)."""
    count = 0
    for record in recording.records:
        try:
            batch = to_batch(record)
        except frames.FrameError:
            continue
        if batch is not None and batch.messages:
            count += 1
    return count


def _read_container(data: bytes) -> Recording:
    if len(data) < _PREAMBLE.size:
        raise RecordingError("truncated header")
    _, version, header_len = _PREAMBLE.unpack_from(data)
    if version != VERSION:
        raise RecordingError(f"unsupported recording version {version} (this reads {VERSION})")
    if header_len > MAX_HEADER_BYTES or _PREAMBLE.size + header_len > len(data):
        raise RecordingError("truncated or oversized header")
    start = _PREAMBLE.size
    try:
        header = json.loads(data[start : start + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordingError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise RecordingError("header is not a JSON object")
    records = list(_container_records(data, start + header_len))
    return Recording(records=records, header=header)


def _container_records(data: bytes, offset: int) -> Iterator[Record]:
    fixed = _LENGTH.size + _RECORD.size
    while offset < len(data):
        if offset + fixed > len(data):
            raise RecordingError(f"truncated record header at byte {offset}")
        (length,) = _LENGTH.unpack_from(data, offset)
        t_us, kind = _RECORD.unpack_from(data, offset + _LENGTH.size)
        body = offset + fixed
        _check_length(length, body, len(data), offset)
        try:
            yield Record(t_us, Kind(kind), data[body : body + length])
        except ValueError:
            raise RecordingError(f"unknown record kind {kind} at byte {offset}") from None
        offset = body + length


def _plain_records(data: bytes) -> Iterator[Record]:
    offset = 0
    while offset < len(data):
        if offset + _LENGTH.size > len(data):
            raise RecordingError(f"truncated length at byte {offset}")
        (length,) = _LENGTH.unpack_from(data, offset)
        body = offset + _LENGTH.size
        _check_length(length, body, len(data), offset)
        yield Record(0, Kind.PUSH_FRAME, data[body : body + length])
        offset = body + length


def _check_length(length: int, body: int, size: int, offset: int) -> None:
    if length > MAX_RECORD_BYTES:
        raise RecordingError(f"record length {length} at byte {offset} is not plausible")
    if body + length > size:
        raise RecordingError(f"truncated record at byte {offset} ({length} bytes announced)")


def to_batch(record: Record) -> pb.FetchResult | None:
    """The messages a record carries, or None for frames without any (hb, ack, enter).

    Raises frames.FrameError for undecodable bytes (the caller counts and skips them, like
    the live push session does).
    """
    if record.kind is Kind.PUSH_FRAME:
        frame = frames.decode_frame(record.data)
        if frame.payload_type != "msg":
            return None
        return frames.decode_msg_frame(frame)
    return frames.decode_fetch_result(record.data)
