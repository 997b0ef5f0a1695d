"""`tiktok2mqtt decode FILE…`: print the events in captured WebCast bytes as JSON lines.

Accepts push frames, fetch results, single inner payloads (their type is read from
``common.method``, or forced with ``--method``) and ``tiktok2mqtt record`` files (.t2mr);
raw bytes or base64 (auto-detected); ``-`` reads stdin. The output is exactly what the
bridge publishes (``Event.to_dict()``, plus ``streamer`` when given), so a capture from a
bug report can be replayed into an automation test.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge.events import Event, GiftEvent, StreamProcessor, gift_tier
from bridge.events.processor import common_of
from bridge.mqtt.payloads import encode_json
from bridge.settings.streamer import DEFAULT_GIFT_TIERS, GiftTier
from bridge.tiktok.frames import (
    FrameError,
    as_text,
    decode_fetch_result,
    decode_frame,
    decode_msg_frame,
)
from bridge.tiktok.pb import webcast_pb2 as pb
from bridge.tiktok.recording import MAGIC, RecordingError, parse_recording, to_batch

NAME = "decode"
HELP = "decode captured WebCast frames / messages and print events as JSON lines"

# payload_type values a real push frame carries; anything else means "not a push frame"
# (a fetch result also parses as a PushFrame: protobuf skips mismatched wire types).
_FRAME_TYPES = {"msg", "hb", "ack", "im_enter_room", "im_enter_room_resp"}
_BASE64 = re.compile(rb"^[A-Za-z0-9+/=_\-\s]+$")


class InputError(Exception):
    """Input that is not WebCast data we can read."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="input file, or - for stdin")
    parser.add_argument(
        "--method",
        help="treat each input as ONE inner message payload of this method "
        "(e.g. WebcastGiftMessage) instead of a push frame / fetch result",
    )
    parser.add_argument("--streamer", help="add this streamer name to every event")
    parser.add_argument(
        "--tiers",
        nargs="?",
        const="default",
        help="set gift event_type from diamond tiers: 'default' or NAME:MIN,NAME:MIN,…",
    )
    parser.add_argument("--room-id", type=int, default=0, help="room id when messages lack one")
    parser.add_argument(
        "--like-window",
        type=float,
        default=0.0,
        help="aggregate likes over this many seconds of input (default 0: every message)",
    )
    parser.add_argument("--gift-progress", action="store_true", help="also print streak steps")
    parser.add_argument("--stats", action="store_true", help="print counters to stderr at the end")


def parse_tiers(spec: str) -> tuple[GiftTier, ...]:
    """'default' or 'name:min,name:min' → tiers; raises ValueError with a readable message."""
    if spec == "default":
        return DEFAULT_GIFT_TIERS
    tiers = []
    for part in spec.split(","):
        name, sep, minimum = part.strip().partition(":")
        if not sep or not name or not minimum.strip().isdigit():
            raise ValueError(f"bad tier {part!r}: expected NAME:MIN_DIAMONDS")
        tiers.append(GiftTier(name, int(minimum)))
    return tuple(tiers)


def read_input(path: str) -> bytes:
    """The bytes of ``path`` (``-`` = stdin), base64-decoded when the content is base64."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise InputError(f"{path}: empty input")
    return maybe_base64(data)


def maybe_base64(data: bytes) -> bytes:
    """Decode base64 text (standard or URL-safe alphabet); raw protobuf is returned as is.

    Raw protobuf practically always holds bytes outside the base64 alphabet (tags like 0x08,
    0x12, length bytes), so the alphabet test is a reliable discriminator.
    """
    if not _BASE64.match(data):
        return data
    text = b"".join(data.split())
    try:
        if b"-" in text or b"_" in text:
            return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
        return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return data


def to_result(data: bytes, path: str) -> pb.FetchResult | None:
    """A push frame or a fetch result as a fetch result (None for frames without events)."""
    try:
        frame = decode_frame(data)
    except FrameError:
        frame = None
    if frame is not None and as_text(frame.payload_type) in _FRAME_TYPES:
        if as_text(frame.payload_type) != "msg":
            return None  # heartbeat / ack / enter-room: valid, but no events
        try:
            return decode_msg_frame(frame)
        except FrameError as exc:
            raise InputError(f"{path}: push frame payload unreadable: {exc}") from None
    try:
        result = decode_fetch_result(data)
    except FrameError as exc:
        raise InputError(f"{path}: not a push frame or fetch result: {exc}") from None
    if not _plausible(result):
        raise InputError(f"{path}: not a push frame or fetch result")
    return result


def _plausible(result: pb.FetchResult) -> bool:
    """Whether a parsed fetch result is one (protobuf parses many byte strings "successfully":
    a single event's ``common`` even reads as an inner message with a method and no payload).
    """
    if not result.messages:
        return bool(result.cursor)
    return all(m.method and m.payload for m in result.messages)


def single_message_method(data: bytes) -> str | None:
    """The method named in a lone inner payload's ``common.method``, if it has one."""
    common = common_of(data)
    method = as_text(common.method) if common is not None else ""
    return method if method.isidentifier() else None


@dataclass(slots=True)
class _Printer:
    streamer: str | None
    tiers: tuple[GiftTier, ...] | None
    count: int = 0

    def emit(self, events: Iterable[Event]) -> None:
        out = sys.stdout.buffer
        for event in events:
            if self.tiers is not None and isinstance(event, GiftEvent):
                event = event.with_tier(gift_tier(event.diamonds, self.tiers))
            payload = event.to_dict()
            if self.streamer is not None:
                payload["streamer"] = self.streamer
            out.write(encode_json(payload) + b"\n")  # the bridge's own encoding
            self.count += 1
        out.flush()


def _decode_one(path: str, args: argparse.Namespace, proc: StreamProcessor) -> list[Event]:
    data = read_input(path)
    if args.method:
        return proc.feed_message(args.method, data, 0.0)
    if data.startswith(MAGIC):
        return _decode_recording(path, data, proc)
    try:
        result = to_result(data, path)
    except InputError:
        # Not a frame: maybe one inner payload, which names its own type in common.method.
        method = single_message_method(data)
        if method is None:
            raise
        return proc.feed_message(method, data, 0.0)
    return [] if result is None else proc.feed(result, 0.0)


def _decode_recording(path: str, data: bytes, proc: StreamProcessor) -> list[Event]:
    """Every batch of a ``tiktok2mqtt record`` file, at its recorded time (so like windows
    and gift streaks close as they did live); undecodable records are skipped."""
    try:
        recording = parse_recording(data)
    except RecordingError as exc:
        raise InputError(f"{path}: damaged recording: {exc}") from None
    events: list[Event] = []
    for record in recording.records:
        try:
            batch = to_batch(record)
        except FrameError:
            proc.stats.bad += 1
            continue
        if batch is not None:
            events.extend(proc.feed(batch, record.t_us / 1e6))
    return events


def run(args: argparse.Namespace) -> int:
    try:
        tiers = parse_tiers(args.tiers) if args.tiers else None
    except ValueError as exc:
        print(f"tiktok2mqtt decode: --tiers: {exc}", file=sys.stderr)
        return 2
    proc = StreamProcessor(
        args.room_id,
        like_window_s=args.like_window,
        gift_progress=args.gift_progress,
    )
    printer = _Printer(args.streamer, tiers)
    failed = 0
    # Input has no real clock: time stands still at 0 and pending streaks / like windows are
    # flushed at the end, so nothing is lost.
    for path in args.files:
        try:
            printer.emit(_decode_one(path, args, proc))
        except InputError as exc:
            print(f"tiktok2mqtt decode: {exc}", file=sys.stderr)
            failed += 1
    printer.emit(proc.flush())
    if args.stats:
        s = proc.stats
        print(
            f"events={printer.count} decoded={s.decoded} unknown={s.unknown} bad={s.bad} "
            f"duplicates={s.duplicates} failed_inputs={failed}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command alone (handy in tests): ``main(["file.bin"])``."""
    parser = argparse.ArgumentParser(prog=f"tiktok2mqtt {NAME}", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))
