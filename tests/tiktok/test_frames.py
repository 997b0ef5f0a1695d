"""The push-frame codec against the docs/protocol.md §5.5 vectors and the synthetic fixtures."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.tiktok import frames
from bridge.tiktok.frames import FrameError
from bridge.tiktok.pb import webcast_pb2 as pb
from tests.helpers.paths import fixtures_dir

ROOM = 7300000000000000001
SYNTH_ROOM = 7301234567890123456
LOG_ID_2_53_PLUS_1 = 9007199254740993
CURSOR = "t-1700000000000_r-1_d-1_u-1"


def synthetic(name: str) -> bytes:
    return (fixtures_dir() / "synthetic" / name).read_bytes()


# ---------------------------------------------------------------- raw wire helpers
# Hand-built wire bytes let the tests send what our own schema could never encode.


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def vi(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def ld(number: int, data: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(data)) + data


# ---------------------------------------------------------------- docs/protocol.md §5.5 vectors

VECTORS: dict[str, tuple[Callable[[], bytes], str]] = {
    "heartbeat": (
        lambda: frames.encode_heartbeat(ROOM, 1),
        "320270623a026862420c088180e8e2aaeab3a7651001",
    ),
    "heartbeat_no_seq": (
        lambda: frames.encode_heartbeat(ROOM, None),
        "320270623a026862420a088180e8e2aaeab3a765",
    ),
    "enter_room": (
        lambda: frames.encode_enter_room(ROOM),
        "320270623a0d696d5f656e7465725f726f6f6d4219088180e8e2aaeab3a765200c2a0861756469656e63654a0130",
    ),
    "ack": (
        lambda: frames.encode_ack(123456789, "internal_src:pushserver|first_req_ms:1"),
        "10959aef3a320270623a0361636b4226696e7465726e616c5f7372633a70757368736572766572"
        "7c66697273745f7265715f6d733a31",
    ),
    "msg_gzip_header": (
        lambda: frames.encode_frame(
            "msg", b"\x1f\x8b", seq_id=5, log_id=99, headers={"compress_type": "gzip"}
        ),
        "080510632a150a0d636f6d70726573735f747970651204677a6970320270623a036d736742021f8b",
    ),
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_encoders_produce_the_documented_bytes(name: str) -> None:
    encode, expected = VECTORS[name]
    assert encode().hex() == expected


def test_heartbeat_vector_decodes_to_room_and_seq() -> None:
    frame = frames.decode_frame(bytes.fromhex(VECTORS["heartbeat"][1]))
    assert (frame.payload_encoding, frame.payload_type) == ("pb", "hb")
    beat = pb.HeartBeatMessage.FromString(frame.payload)
    assert (beat.room_id, beat.send_packet_seq_id) == (ROOM, 1)
    no_seq = frames.decode_frame(bytes.fromhex(VECTORS["heartbeat_no_seq"][1]))
    assert pb.HeartBeatMessage.FromString(no_seq.payload).send_packet_seq_id == 0


def test_enter_room_vector_decodes_to_documented_fields() -> None:
    frame = frames.decode_frame(bytes.fromhex(VECTORS["enter_room"][1]))
    assert frame.payload_type == "im_enter_room"
    enter = pb.ImEnterRoomMessage.FromString(frame.payload)
    assert enter.room_id == ROOM
    assert enter.live_id == 12
    assert enter.identity == "audience"
    assert enter.filter_welcome_msg == "0"
    assert enter.enter_unique_id == 0


def test_enter_room_carries_enter_unique_id() -> None:
    frame = frames.decode_frame(frames.encode_enter_room(ROOM, enter_unique_id=2**62 + 7))
    assert pb.ImEnterRoomMessage.FromString(frame.payload).enter_unique_id == 2**62 + 7


def test_ack_vector_decodes_to_log_id_and_internal_ext() -> None:
    frame = frames.decode_frame(bytes.fromhex(VECTORS["ack"][1]))
    assert (frame.payload_type, frame.log_id) == ("ack", 123456789)
    assert frame.payload == b"internal_src:pushserver|first_req_ms:1"
    assert frames.encode_ack(123456789, b"raw") == frames.encode_ack(123456789, "raw")


def test_msg_vector_header_is_read_and_payload_treated_as_gzip() -> None:
    frame = frames.decode_frame(bytes.fromhex(VECTORS["msg_gzip_header"][1]))
    assert (frame.seq_id, frame.log_id, frame.payload_type) == (5, 99, "msg")
    assert frames.header(frame, "compress_type") == "gzip"
    assert frames.header(frame, "im-cursor") is None
    # Two bytes of magic are not a gzip stream: the codec must say so, not crash.
    with pytest.raises(FrameError, match="gzip"):
        frames.gunzip_if_needed(frame)


# ---------------------------------------------------------------- synthetic fixtures


def test_frame_gzip_fixture() -> None:
    frame = frames.decode_frame(synthetic("frame_gzip.bin"))
    assert (frame.seq_id, frame.payload_type, frame.payload_encoding) == (1, "msg", "pb")
    assert frame.log_id == LOG_ID_2_53_PLUS_1  # exact: beyond float precision
    assert [(h.key, h.value) for h in frame.headers] == [
        ("compress_type", "gzip"),
        ("im-cursor", CURSOR),
    ]
    assert frame.payload.startswith(frames.GZIP_MAGIC)
    result = frames.decode_msg_frame(frame)
    assert [method for method, _ in frames.iter_messages(result)] == [
        "WebcastRoomUserSeqMessage",
        "WebcastMemberMessage",
        "WebcastChatMessage",
        *["WebcastGiftMessage"] * 4,
    ]
    assert result.need_ack is True
    assert result.cursor == CURSOR
    assert result.internal_ext.startswith("internal_src:dim|wss_push_room_id:730123")
    chat = pb.ChatMessage.FromString(result.messages[2].payload)
    assert chat.content == "hello from ann 👋"
    assert (chat.user.id, chat.user.nickname, chat.user.display_id) == (
        6800000000000000001,
        "Ann 🌸",
        "ann_1",
    )


def test_frame_plain_fixture() -> None:
    frame = frames.decode_frame(synthetic("frame_plain.bin"))
    assert (frame.seq_id, frame.log_id) == (2, LOG_ID_2_53_PLUS_1)
    assert frames.header(frame, "compress_type") == "none"
    assert not frames.is_gzip(frame)
    assert frames.gunzip_if_needed(frame) is frame.payload or (
        frames.gunzip_if_needed(frame) == frame.payload
    )
    result = frames.decode_msg_frame(frame)
    assert [method for method, _ in frames.iter_messages(result)] == [
        *["WebcastGiftMessage"] * 3,
        "WebcastLikeMessage",
        "WebcastSocialMessage",
        "WebcastSocialMessage",
        "WebcastControlMessage",
    ]
    like = pb.LikeMessage.FromString(result.messages[3].payload)
    assert (like.count, like.total) == (15, 123456)
    control = pb.ControlMessage.FromString(result.messages[6].payload)
    assert control.action == 3
    assert control.common.room_id == SYNTH_ROOM


def test_frame_hb_fixture() -> None:
    frame = frames.decode_frame(synthetic("frame_hb.bin"))
    assert frame.payload_type == "hb"
    assert (frame.seq_id, frame.log_id, len(frame.headers)) == (0, 0, 0)


def test_response_all_is_both_frames_and_the_msg_files() -> None:
    result = frames.decode_fetch_result(synthetic("response_all.bin"))
    assert len(result.messages) == 14
    assert result.need_ack is True
    assert result.cursor == CURSOR
    assert result.internal_ext.startswith("internal_src:dim|wss_push_room_id:730123")
    assert dict(result.route_params) == {"im_push_tag": "1"}
    assert result.heartbeat_duration == 10000

    split = [
        *frames.decode_msg_frame(frames.decode_frame(synthetic("frame_gzip.bin"))).messages,
        *frames.decode_msg_frame(frames.decode_frame(synthetic("frame_plain.bin"))).messages,
    ]
    assert [m.SerializeToString() for m in split] == [
        m.SerializeToString() for m in result.messages
    ]

    msg_files = sorted((fixtures_dir() / "synthetic").glob("msg_*.bin"))
    assert len(msg_files) == 14
    for path, message in zip(msg_files, result.messages, strict=True):
        method = path.stem.split("_", 2)[2]
        assert message.method == method
        assert message.payload == path.read_bytes()
        assert pb.CommonOnly.FromString(message.payload).common.method == method


def test_synthetic_gift_streak_values() -> None:
    result = frames.decode_fetch_result(synthetic("response_all.bin"))
    gifts = [
        pb.GiftMessage.FromString(m.payload)
        for m in result.messages
        if m.method == "WebcastGiftMessage"
    ]
    assert [(g.repeat_count, g.repeat_end) for g in gifts] == [
        (1, 0),
        (2, 0),
        (3, 0),
        (4, 0),
        (5, 0),
        (5, 1),
        (1, 0),
    ]
    assert {g.group_id for g in gifts[:6]} == {1700000000003}
    rose, lion = gifts[0].gift, gifts[6].gift
    assert (rose.id, rose.name, rose.diamond_count, rose.type) == (5655, "Rose", 1, 1)
    assert (lion.id, lion.name, lion.diamond_count, lion.type) == (6369, "Lion", 29999, 2)
    assert gifts[6].user.nickname == "Çelik"


# ---------------------------------------------------------------- gzip detection


def _rebuilt(frame: pb.PushFrame, *, headers: dict[str, str], payload: bytes) -> pb.PushFrame:
    data = frames.encode_frame(
        "msg", payload, seq_id=frame.seq_id, log_id=frame.log_id, headers=headers
    )
    return frames.decode_frame(data)


def test_gzip_detected_by_magic_bytes_alone() -> None:
    original = frames.decode_frame(synthetic("frame_gzip.bin"))
    bare = _rebuilt(original, headers={}, payload=original.payload)
    assert frames.header(bare, "compress_type") is None
    assert frames.decode_msg_frame(bare) == frames.decode_msg_frame(original)
    # Magic wins even over a header that says "none".
    lying = _rebuilt(original, headers={"compress_type": "none"}, payload=original.payload)
    assert frames.decode_msg_frame(lying) == frames.decode_msg_frame(original)


def test_gzip_detected_by_header_alone() -> None:
    frame = pb.PushFrame(payload=b"", headers=[pb.PushHeader(key="compress_type", value="gzip")])
    assert frames.is_gzip(frame)
    # A header that says gzip over a payload that is not: decoding it as plain would
    # yield garbage events, so it is refused.
    plain = frames.decode_frame(synthetic("frame_plain.bin"))
    claimed = _rebuilt(plain, headers={"compress_type": "gzip"}, payload=plain.payload)
    with pytest.raises(FrameError):
        frames.gunzip_if_needed(claimed)


def test_header_none_without_magic_is_plain() -> None:
    frame = pb.PushFrame(
        payload=b"\x0a\x00", headers=[pb.PushHeader(key="compress_type", value="none")]
    )
    assert frames.gunzip_if_needed(frame) == b"\x0a\x00"


def test_concatenated_gzip_members_are_joined() -> None:
    payload = gzip.compress(b"abc", mtime=0) + gzip.compress(b"def", mtime=0)
    assert frames.gunzip_if_needed(pb.PushFrame(payload=payload)) == b"abcdef"


@pytest.mark.parametrize(
    ("name", "mangle"),
    [
        ("truncated", lambda z: z[: len(z) // 2]),
        ("bad crc", lambda z: z[:-8] + bytes([z[-8] ^ 0xFF]) + z[-7:]),
        ("trailing garbage", lambda z: z + b"garbage"),
        ("corrupt deflate", lambda z: z[:10] + b"\xff" * 20 + z[30:]),
    ],
)
def test_corrupt_gzip_is_a_frame_error(name: str, mangle: object) -> None:
    good = gzip.compress(bytes(range(256)) * 64, mtime=0)
    assert callable(mangle)
    bad = mangle(good)
    with pytest.raises(FrameError):
        frames.gunzip_if_needed(pb.PushFrame(payload=bad))


# ---------------------------------------------------------------- bounded decompression


def test_gzip_bomb_is_refused_at_the_limit() -> None:
    # 20 MiB of zeros compress to ~20 KiB: a cheap bomb.
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024), compresslevel=9, mtime=0)
    assert len(bomb) < 100_000
    with pytest.raises(FrameError, match="larger than"):
        frames.gunzip_if_needed(pb.PushFrame(payload=bomb))


def test_gzip_limit_is_inclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frames, "MAX_PAYLOAD", 1000)
    exact = gzip.compress(b"x" * 1000, mtime=0)
    assert frames.gunzip_if_needed(pb.PushFrame(payload=exact)) == b"x" * 1000
    over = gzip.compress(b"x" * 1001, mtime=0)
    with pytest.raises(FrameError, match="larger than"):
        frames.gunzip_if_needed(pb.PushFrame(payload=over))
    # The limit applies to the sum of concatenated members, too.
    two = gzip.compress(b"x" * 600, mtime=0) * 2
    with pytest.raises(FrameError, match="larger than"):
        frames.gunzip_if_needed(pb.PushFrame(payload=two))


def test_ten_megabyte_frame_decodes_or_fails_cleanly() -> None:
    result = pb.FetchResult(
        messages=[pb.InnerMessage(method="WebcastChatMessage", payload=b"x" * 1024)] * 10_000
    )
    data = frames.encode_msg_frame(result, seq_id=1, log_id=1, gzip=True, header_compress=True)
    decoded = frames.decode_msg_frame(frames.decode_frame(data))
    assert len(decoded.messages) == 10_000
    with pytest.raises(FrameError):
        frames.decode_frame(data[: len(data) - 1000])


# ---------------------------------------------------------------- decode errors


@pytest.mark.parametrize(
    "data",
    [b"\xff", b"\x0a\x05ab", b"\x08", b"\x07", b"\x42\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"],
)
def test_malformed_frames_raise_frame_error(data: bytes) -> None:
    with pytest.raises(FrameError):
        frames.decode_frame(data)
    with pytest.raises(FrameError):
        frames.decode_fetch_result(data)


def test_non_bytes_input_is_a_frame_error() -> None:
    with pytest.raises(FrameError, match="expected bytes"):
        frames.decode_frame("text message")  # type: ignore[arg-type]


def test_bytearray_and_memoryview_are_accepted() -> None:
    data = synthetic("frame_hb.bin")
    assert frames.decode_frame(bytearray(data)).payload_type == "hb"
    assert frames.decode_frame(memoryview(data)).payload_type == "hb"


def test_empty_input_is_an_empty_frame() -> None:
    assert frames.decode_frame(b"") == pb.PushFrame()


def test_route_params_key_with_invalid_utf8_is_a_frame_error() -> None:
    entry = ld(1, b"\xffkey") + ld(2, b"value")
    data = ld(2, b"cursor") + ld(7, entry)
    with pytest.raises(FrameError, match="route_params"):
        frames.decode_fetch_result(data)


def test_route_params_value_with_invalid_utf8_reads_as_text() -> None:
    entry = ld(1, b"wrss") + ld(2, b"ab\xff")
    result = frames.decode_fetch_result(ld(2, b"cursor") + ld(7, entry))
    assert frames.route_params(result) == {"wrss": "ab\ufffd"}


# ---------------------------------------------------------------- defensive decoding


def test_invalid_utf8_in_viewer_text_keeps_the_message() -> None:
    user = vi(1, 42) + ld(3, b"Bad\xffNick") + ld(38, b"handle")
    data = ld(2, user) + ld(3, b"hi \xc3 there") + ld(1, ld(1, b"WebcastChatMessage"))
    # frames.parser: protobuf's own pure-Python parser would refuse the whole message.
    chat = frames.parser(pb.ChatMessage).FromString(data)
    assert chat.common.method == "WebcastChatMessage"
    assert chat.user.id == 42
    assert frames.as_text(chat.user.display_id) == "handle"
    assert frames.as_text(chat.user.nickname) == "Bad\ufffdNick"
    assert frames.as_text(chat.content) == "hi \ufffd there"


def test_as_text() -> None:
    assert frames.as_text("héllo 👋") == "héllo 👋"
    assert frames.as_text("héllo 👋".encode()) == "héllo 👋"
    assert frames.as_text(b"\xff") == "\ufffd"


def test_unexpected_wire_type_is_skipped_not_fatal() -> None:
    # One public schema puts a User message at SubNotify field 11 where ours has an enum.
    user = vi(1, 7) + ld(3, b"sub")
    data = ld(1, vi(2, 555)) + ld(2, user) + vi(4, 3) + ld(11, user) + vi(12, 2)
    sub = pb.SubNotifyMessage.FromString(data)
    assert sub.common.msg_id == 555
    assert (sub.user.id, sub.user.nickname) == (7, "sub")
    assert (sub.sub_month, sub.gift_source, sub.message_display_style) == (3, 0, 2)


def test_pt_shaped_emote_chat_decodes() -> None:
    # One public schema: field 3 = EmoteData{1 index varint, 2 emote}; ours: a bare list.
    emote = ld(1, b"7280187750513691424") + ld(2, ld(1, b"https://example.invalid/e.png"))
    data = ld(1, vi(2, 9)) + ld(3, vi(1, 0) + ld(2, emote))
    chat = pb.EmoteChatMessage.FromString(data)
    assert chat.common.msg_id == 9
    assert len(chat.emote_list) == 1
    assert chat.emote_list[0].emote_id == ""  # the index arrived as a varint: skipped


def test_inner_method_with_invalid_utf8_is_text() -> None:
    result = frames.decode_fetch_result(ld(1, ld(1, b"Webcast\xffMessage") + ld(2, b"")))
    assert [method for method, _ in frames.iter_messages(result)] == ["Webcast\ufffdMessage"]


# ---------------------------------------------------------------- encode_msg_frame


@pytest.mark.parametrize("use_gzip", [True, False])
@pytest.mark.parametrize("header_compress", [True, False])
def test_msg_frame_roundtrip(use_gzip: bool, header_compress: bool) -> None:
    result = frames.decode_fetch_result(synthetic("response_all.bin"))
    data = frames.encode_msg_frame(
        result,
        seq_id=7,
        log_id=LOG_ID_2_53_PLUS_1,
        gzip=use_gzip,
        header_compress=header_compress,
        headers={"im-cursor": CURSOR},
    )
    frame = frames.decode_frame(data)
    assert (frame.seq_id, frame.log_id, frame.payload_type) == (7, LOG_ID_2_53_PLUS_1, "msg")
    expected_header = ("gzip" if use_gzip else "none") if header_compress else None
    assert frames.header(frame, "compress_type") == expected_header
    assert frames.header(frame, "im-cursor") == CURSOR
    assert frames.is_gzip(frame) is use_gzip
    assert frames.decode_msg_frame(frame) == result
    # Deterministic (gzip mtime 0): the simulator's frames are reproducible.
    assert data == frames.encode_msg_frame(
        result,
        seq_id=7,
        log_id=LOG_ID_2_53_PLUS_1,
        gzip=use_gzip,
        header_compress=header_compress,
        headers={"im-cursor": CURSOR},
    )


def test_zlib_without_gzip_wrapper_is_not_mistaken_for_gzip() -> None:
    raw = zlib.compress(b"\x0a\x00")
    frame = pb.PushFrame(payload=raw)
    assert not frames.is_gzip(frame)
    assert frames.gunzip_if_needed(frame) == raw


def test_fixture_dir_exists() -> None:
    assert Path(fixtures_dir(), "synthetic", "frame_gzip.bin").is_file()


def test_as_text_caps_hostile_lengths() -> None:
    huge = "x" * (frames.MAX_TEXT * 3)
    assert frames.as_text(huge) == "x" * frames.MAX_TEXT
    assert frames.as_text(huge.encode()) == "x" * frames.MAX_TEXT
    # Invalid UTF-8 is replaced, never dropped; short text passes through unchanged.
    assert frames.as_text(b"ok \xff") == "ok \ufffd"
    assert frames.as_text("héllo 👋") == "héllo 👋"
