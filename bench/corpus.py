"""The decode corpus: push frames carrying real 2023 payloads in a realistic mix.

TikTok batches 5–20 inner messages per ``msg`` frame and gzips the fetch result (with a
``compress_type: gzip`` header). In a busy room likes and joins dominate, then chats, viewer
counts, follows and gifts; a small share is the long tail of message types we do not model.
Frames are stored in a capture container — a u32 little-endian length, then the frame
bytes, repeated — so the same bytes can be fed to any other decoder.
"""

from __future__ import annotations

import base64
import json
import random
import struct
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge.tiktok import frames
from bridge.tiktok.pb import webcast_pb2 as pb

# Real 2023 payloads kept with the tests (provenance: tests/fixtures/README.md).
PAYLOADS = Path(__file__).resolve().parents[1] / "tests/fixtures/real-2023/payloads.jsonl"

# Share of inner messages per wire method (sums to 1). Busy-room proportions: one like
# message carries up to 15 taps and every viewer entering is a member message.
MIX: dict[str, float] = {
    "WebcastLikeMessage": 0.30,
    "WebcastMemberMessage": 0.27,
    "WebcastChatMessage": 0.18,
    "WebcastRoomUserSeqMessage": 0.08,
    "WebcastSocialMessage": 0.06,
    "WebcastGiftMessage": 0.06,
    "other": 0.05,  # rank, link-mic, goal, ... (unknown events for us)
}
# Never in the middle of a corpus: a stream-end control message flushes the processor.
EXCLUDED = frozenset({"WebcastControlMessage"})
BATCH = (5, 20)
ROOM_ID = 7301234567890123456
_LEN = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class Corpus:
    frames: list[bytes]
    messages: int  # inner messages across all frames
    by_method: dict[str, int]
    # Inner messages whose msg_id an earlier one had: the processor drops them unparsed as
    # replays, so a corpus with many would make decoding look cheaper than it is.
    duplicate_ids: int = 0

    @property
    def bytes(self) -> int:
        return sum(len(f) for f in self.frames)


def load_payloads(path: Path = PAYLOADS) -> dict[str, list[bytes]]:
    """Real inner payloads grouped by wire method (the payload's own common.method)."""
    by_method: dict[str, list[bytes]] = defaultdict(list)
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            payload = base64.b64decode(row["payload_b64"])
            method = _wire_method(payload) or row["method"]
            if method not in EXCLUDED:
                by_method[method].append(payload)
    return dict(by_method)


def _wire_method(payload: bytes) -> str:
    try:
        common = pb.CommonOnly.FromString(payload).common
    except Exception:  # a payload whose field 1 is not a Common: keep the captured name
        return ""
    return frames.as_text(common.method)


def build(frame_count: int, *, seed: int = 2023, path: Path = PAYLOADS) -> Corpus:
    """``frame_count`` gzip'd msg frames; the same seed always gives the same bytes."""
    rng = random.Random(seed)
    payloads = load_payloads(path)
    other = [(m, p) for m, ps in payloads.items() if m not in MIX for p in ps]
    methods = list(MIX)
    weights = [MIX[m] for m in methods]
    msg_id = 2**60  # unique per inner message: the processor's dedupe must not drop repeats
    out: list[bytes] = []
    counts: Counter[str] = Counter()
    for seq in range(1, frame_count + 1):
        result = pb.FetchResult(
            cursor=f"t-{1700000000000 + seq}_r-1_d-1_u-1_h-1",
            now=1700000000000 + seq,
            fetch_interval=1000,
            need_ack=True,
            internal_ext=f"internal_src:dim|wss_push_room_id:{ROOM_ID}|seq:{seq}",
        )
        for method in rng.choices(methods, weights, k=rng.randint(*BATCH)):
            if method == "other":
                method, payload = rng.choice(other)
            else:
                payload = rng.choice(payloads[method])
            msg_id += 1
            result.messages.add(method=method, payload=payload, msg_id=msg_id)
            counts[method] += 1
        out.append(
            frames.encode_msg_frame(
                result,
                seq_id=seq,
                log_id=2**53 + seq,
                gzip=True,
                header_compress=True,
                headers={"im-cursor": result.cursor, "im-internal_ext": result.internal_ext},
            )
        )
    return Corpus(out, sum(counts.values()), dict(counts))


def write_container(path: Path, frame_list: Iterable[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        for data in frame_list:
            fh.write(_LEN.pack(len(data)))
            fh.write(data)


def read_container(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return list(iter_container(data))


def iter_container(data: bytes) -> Iterator[bytes]:
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise ValueError(f"truncated length prefix at byte {pos}")
        (size,) = _LEN.unpack_from(data, pos)
        pos += 4
        if pos + size > len(data):
            raise ValueError(f"truncated frame at byte {pos} ({size} bytes announced)")
        yield data[pos : pos + size]
        pos += size


def describe(frame_list: Sequence[bytes]) -> Corpus:
    """Count the inner messages of a corpus read from a container (``--corpus FILE``)."""
    counts: Counter[str] = Counter()
    kept: list[bytes] = []
    ids: set[int] = set()
    duplicates = 0
    for data in frame_list:
        try:
            frame = frames.decode_frame(data)
            if frame.payload_type != "msg":
                kept.append(data)
                continue
            result = frames.decode_msg_frame(frame)
        except frames.FrameError:
            kept.append(data)  # bad frames stay in: skipping them is part of decoding
            continue
        kept.append(data)
        for method, inner in frames.iter_messages(result):
            counts[method] += 1
            msg_id = inner.msg_id or _common_msg_id(inner.payload)
            if msg_id:  # 0 = no id: never a duplicate for the processor either
                duplicates += msg_id in ids
                ids.add(msg_id)
    return Corpus(kept, sum(counts.values()), dict(counts), duplicates)


def _common_msg_id(payload: bytes) -> int:
    """common.msg_id, the id the processor de-duplicates on when the envelope has none."""
    try:
        return int(pb.CommonOnly.FromString(payload).common.msg_id)
    except Exception:  # not a WebCast message: no id
        return 0
