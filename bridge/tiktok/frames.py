"""The push-frame codec: WebSocket frames <-> protobuf (docs/protocol.md §5.4-§5.6, §6.2).

Decoding never lets anything but :class:`FrameError` escape: a frame comes from the
network, and one bad frame must cost exactly that frame. Inner event payloads are not
decoded here (``bridge.events`` does that per message, by ``method``).
"""

from __future__ import annotations

import gzip as _gzip
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

from google.protobuf import __version__ as _protobuf_version
from google.protobuf.internal import api_implementation
from google.protobuf.message import DecodeError, Message

from bridge.tiktok import wire
from bridge.tiktok.pb import webcast_pb2 as pb

__all__ = [
    "GZIP_MAGIC",
    "MAX_PAYLOAD",
    "MAX_TEXT",
    "MESSAGE_TYPES",
    "FrameError",
    "as_text",
    "decode_fetch_result",
    "decode_frame",
    "decode_msg_frame",
    "encode_ack",
    "encode_enter_room",
    "encode_frame",
    "encode_heartbeat",
    "encode_msg_frame",
    "gunzip_if_needed",
    "header",
    "is_gzip",
    "iter_messages",
    "protobuf_runtime",
    "route_params",
]

GZIP_MAGIC = b"\x1f\x8b\x08"
# Longest text taken from any string field (comments are <= 150 characters on TikTok).
MAX_TEXT = 4096
# Real batches are a few KiB; anything this large decompressed is garbage or a bomb.
MAX_PAYLOAD = 16 * 1024 * 1024
COMPRESS_HEADER = "compress_type"
# Every frame the client sends says so (docs/protocol.md §5.4).
PAYLOAD_ENCODING = "pb"
LIVE_ID = 12

# The inner-message class for each wire ``method`` this schema declares. Anything else
# is an unknown event (pb.CommonOnly still reads its common part: events.processor.common_of).
MESSAGE_TYPES: Mapping[str, type[Message]] = {
    "WebcastChatMessage": pb.ChatMessage,
    "WebcastGiftMessage": pb.GiftMessage,
    "WebcastLikeMessage": pb.LikeMessage,
    "WebcastMemberMessage": pb.MemberMessage,
    "WebcastSocialMessage": pb.SocialMessage,
    "WebcastRoomUserSeqMessage": pb.RoomUserSeqMessage,
    "WebcastControlMessage": pb.ControlMessage,
    "WebcastSubNotifyMessage": pb.SubNotifyMessage,
    "WebcastEmoteChatMessage": pb.EmoteChatMessage,
    "WebcastEnvelopeMessage": pb.EnvelopeMessage,
    "WebcastQuestionNewMessage": pb.QuestionNewMessage,
    "WebcastLinkMicBattle": pb.LinkMicBattle,
    "WebcastLinkMicArmies": pb.LinkMicArmies,
    "WebcastLiveIntroMessage": pb.LiveIntroMessage,
    "WebcastRoomPinMessage": pb.RoomPinMessage,
    "WebcastRankUpdateMessage": pb.RankUpdateMessage,
    "WebcastImDeleteMessage": pb.ImDeleteMessage,
    "WebcastBarrageMessage": pb.BarrageMessage,
    "WebcastLinkMicBattleItemCard": pb.LinkMicBattleItemCard,
}


class FrameError(Exception):
    """A frame (or its payload) could not be decoded. The frame should be skipped."""


def as_text(value: str | bytes) -> str:
    """A protobuf string field as text.

    The schema turns off UTF-8 validation (see proto/webcast.proto), so a field holding
    invalid UTF-8 reads back as ``bytes``; it is decoded with replacement characters
    rather than losing the message. Text is cut at ``MAX_TEXT`` characters: TikTok's own
    fields are short, and a hostile multi-megabyte field must not travel on to MQTT.
    """
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT]
    # At most 4 bytes per character: decoding the cut bytes cannot come out short.
    return value[: MAX_TEXT * 4].decode("utf-8", errors="replace")[:MAX_TEXT]


# ---------------------------------------------------------------- runtime

# Said in the log and bridge/info when protobuf runs as pure Python (docs/install-systemd.md
# "Raspberry Pi": no compiled wheel for 32-bit ARM on PyPI).
PURE_PYTHON_WARNING = (
    "protobuf runs as pure Python (no compiled build for this platform): decoding costs "
    "several times more CPU; a 64-bit OS or Debian's python3-protobuf gives the compiled one"
)


# Without a compiled protobuf, every message is read by bridge/tiktok/wire.py: protobuf's
# pure-Python parser costs several times more per message and refuses a whole message for
# one invalid UTF-8 byte (where the compiled runtime reads that string back as bytes).
PURE_PYTHON = api_implementation.Type() == "python"


def parser(cls: type[Message], *, pure_python: bool = PURE_PYTHON) -> Any:
    """What reads ``cls`` from bytes (``.FromString``): the generated class itself, or
    with pure-Python protobuf wire.py's reader of it (objects with the same fields)."""
    return wire.reader(cls) if pure_python else cls


def protobuf_runtime() -> dict[str, str]:
    """Which protobuf runtime parses the frames: ``implementation`` is "upb" (compiled)
    or "python" (pure Python, chosen when no compiled build exists or by
    PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION), plus ``version`` and, for pure Python,
    ``warning``."""
    runtime = {"implementation": api_implementation.Type(), "version": _protobuf_version}
    if runtime["implementation"] == "python":
        runtime["warning"] = PURE_PYTHON_WARNING
    return runtime


# ---------------------------------------------------------------- decoding


Buffer = bytes | bytearray | memoryview


_PUSH_FRAME = parser(pb.PushFrame)
_FETCH_RESULT = parser(pb.FetchResult)


def _parse(cls: Any, data: Buffer, what: str) -> Any:
    if type(data) is not bytes:  # fast path: the WebSocket hands us bytes
        if not isinstance(data, bytearray | memoryview):
            raise FrameError(f"{what}: expected bytes, got {type(data).__name__}")
        data = bytes(data)
    try:
        return cls.FromString(data)
    except (DecodeError, RuntimeError, ValueError, OverflowError) as exc:
        # upb raises DecodeError; the others are belt and braces for odd inputs.
        raise FrameError(f"{what}: {exc}") from None


def decode_frame(data: Buffer) -> pb.PushFrame:
    """One binary WebSocket message as a PushFrame (or, with pure-Python protobuf, an
    object with the same fields: see ``parser``)."""
    frame: pb.PushFrame = _parse(_PUSH_FRAME, data, "push frame")
    return frame


def decode_fetch_result(data: Buffer) -> pb.FetchResult:
    """A ProtoMessageFetchResult (the uncompressed payload of a ``msg`` frame, or the
    sign server's HTTP body)."""
    result: pb.FetchResult = _parse(_FETCH_RESULT, data, "fetch result")
    if not result.route_params:  # push frames carry none: skip the check
        return result
    try:
        # A map key with invalid UTF-8 raises on access instead of reading back as bytes
        # (values read back as bytes); check once here so that callers can't trip on it.
        keys = list(result.route_params)
    except UnicodeDecodeError as exc:
        raise FrameError(f"fetch result: route_params not UTF-8: {exc}") from None
    if not all(type(key) is str for key in keys):  # wire.py reads such a key as bytes
        raise FrameError("fetch result: route_params not UTF-8")
    return result


def route_params(result: pb.FetchResult) -> dict[str, str]:
    """The fetch result's ``route_params`` as text (values may hold invalid UTF-8)."""
    return {as_text(key): as_text(value) for key, value in result.route_params.items()}


def header(frame: pb.PushFrame, key: str) -> str | None:
    """The value of the first push header named ``key``, or None."""
    for h in frame.headers:
        # Typed str, but bytes when the header is not UTF-8 (see as_text).
        name: str | bytes = h.key
        if name == key or (type(name) is bytes and as_text(name) == key):
            return as_text(h.value)
    return None


def _is_gzip(frame: pb.PushFrame, payload: bytes) -> bool:
    if payload.startswith(GZIP_MAGIC):
        return True
    if not frame.headers:
        return False
    value = header(frame, COMPRESS_HEADER)
    return value is not None and value.strip().lower() == "gzip"


def is_gzip(frame: pb.PushFrame) -> bool:
    """Whether the payload is gzip: by the ``compress_type`` header OR by the magic bytes.

    Servers have used one signal or the other (docs/protocol.md §5.6); honouring both
    covers either server behaviour. A plain protobuf can never start with 1f: that is
    field 3 with the invalid wire type 7, so sniffing cannot misfire.
    """
    return _is_gzip(frame, frame.payload)


def gunzip_if_needed(frame: pb.PushFrame) -> bytes:
    """The frame payload, decompressed when it is gzip (see :func:`is_gzip`)."""
    payload = frame.payload
    if not _is_gzip(frame, payload):
        return payload
    return _gunzip(payload, MAX_PAYLOAD)


def _gunzip(data: bytes, limit: int) -> bytes:
    """Bounded gunzip: never produces more than ``limit`` bytes (a 10 MB bomb is refused
    after ``limit`` bytes, not after filling memory). Concatenated members are allowed."""
    out = bytearray()
    rest = data
    try:
        while True:
            d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            chunk = d.decompress(rest, limit + 1 - len(out))
            if not out and d.eof and not d.unused_data and len(chunk) <= limit:
                # One member, the usual case: its bytes as they are (no two copies).
                return chunk
            out += chunk
            if len(out) > limit:
                raise FrameError(f"gzip payload larger than {limit} bytes")
            if not d.eof:
                if d.unconsumed_tail:
                    # Output budget exhausted exactly at the limit with input left.
                    raise FrameError(f"gzip payload larger than {limit} bytes")
                raise FrameError("gzip payload truncated")
            rest = d.unused_data
            if not rest:
                return bytes(out)
            if not rest.startswith(GZIP_MAGIC[:2]):
                raise FrameError("trailing garbage after gzip payload")
    except zlib.error as exc:
        raise FrameError(f"gzip payload corrupt: {exc}") from None


def decode_msg_frame(frame: pb.PushFrame) -> pb.FetchResult:
    """The fetch result carried by a ``msg`` frame (gunzip if needed, then decode)."""
    return decode_fetch_result(gunzip_if_needed(frame))


def iter_messages(result: pb.FetchResult) -> Iterator[tuple[str, pb.InnerMessage]]:
    """Each inner message with its ``method`` as text, in wire order."""
    for message in result.messages:
        yield as_text(message.method), message


# ---------------------------------------------------------------- encoding


def encode_frame(
    payload_type: str,
    payload: bytes,
    *,
    seq_id: int = 0,
    log_id: int = 0,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """A PushFrame with ``payload_encoding = "pb"``; fields at default are omitted."""
    frame = pb.PushFrame(
        seq_id=seq_id,
        log_id=log_id,
        payload_encoding=PAYLOAD_ENCODING,
        payload_type=payload_type,
        payload=payload,
    )
    for key, value in (headers or {}).items():
        frame.headers.add(key=key, value=value)
    return frame.SerializeToString()


def encode_heartbeat(room_id: int, seq: int | None = None) -> bytes:
    """An ``hb`` frame. ``seq`` (1, 2, …) is the per-connection heartbeat counter; None
    leaves it out (some clients send none)."""
    beat = pb.HeartBeatMessage(room_id=room_id, send_packet_seq_id=seq or 0)
    return encode_frame("hb", beat.SerializeToString())


def encode_enter_room(room_id: int, *, enter_unique_id: int = 0) -> bytes:
    """The ``im_enter_room`` frame that joins the room's message stream."""
    enter = pb.ImEnterRoomMessage(
        room_id=room_id,
        live_id=LIVE_ID,
        identity="audience",
        enter_unique_id=enter_unique_id,
        filter_welcome_msg="0",
    )
    return encode_frame("im_enter_room", enter.SerializeToString())


def encode_ack(log_id: int, internal_ext: str | bytes) -> bytes:
    """The ``ack`` frame for a received ``msg`` frame: ``log_id`` of that PushFrame and
    the ``internal_ext`` of the fetch result it carried, sent as given."""
    payload = internal_ext.encode("utf-8") if isinstance(internal_ext, str) else internal_ext
    return encode_frame("ack", payload, log_id=log_id)


def encode_msg_frame(
    result: pb.FetchResult,
    *,
    seq_id: int,
    log_id: int,
    gzip: bool,
    header_compress: bool,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """A server-side ``msg`` frame (simulator, bench).

    ``gzip`` compresses the payload; ``header_compress`` adds the ``compress_type``
    header (``gzip``/``none``) so both detection paths can be exercised. ``headers``
    are appended after it (e.g. ``im-cursor``).
    """
    payload = result.SerializeToString()
    if gzip:
        # mtime=0: identical input gives identical bytes (reproducible fixtures).
        payload = _gzip.compress(payload, compresslevel=6, mtime=0)
    all_headers: dict[str, str] = {}
    if header_compress:
        all_headers[COMPRESS_HEADER] = "gzip" if gzip else "none"
    all_headers.update(headers or {})
    return encode_frame("msg", payload, seq_id=seq_id, log_id=log_id, headers=all_headers)
