"""Builders produce what real TikTok messages look like (fixtures/README.md facts)."""

from __future__ import annotations

import gzip

from bridge.sim import gifts
from bridge.sim import messages as m
from bridge.tiktok.pb import webcast_pb2 as pb
from tests.helpers.paths import fixtures_dir


def _decode(built: m.Built, cls: type[pb.ChatMessage]) -> pb.ChatMessage:
    msg = cls()
    msg.ParseFromString(built[1])
    return msg


def test_chat_has_realistic_common_and_user() -> None:
    method, payload = m.chat("ann_1", "hello 👋", language="pt")
    chat = pb.ChatMessage.FromString(payload)
    assert method == chat.common.method == "WebcastChatMessage"
    assert chat.common.msg_id > 2**53 and chat.common.create_time > 1_600_000_000_000
    assert chat.user.id > 2**53 and chat.user.display_id == "ann_1"
    assert chat.user.avatar_thumb.url_list and chat.content_language == "pt"


def test_msg_ids_unique_and_user_ids_stable() -> None:
    a, b = (
        pb.ChatMessage.FromString(m.chat("x", "1")[1]),
        pb.ChatMessage.FromString(m.chat("x", "2")[1]),
    )
    assert a.common.msg_id != b.common.msg_id
    assert a.user.id == b.user.id


def test_emote_only_chat_has_no_content() -> None:
    chat = pb.ChatMessage.FromString(m.chat("ann", emotes=["123"])[1])
    assert chat.content == "" and chat.emotes[0].emote.emote_id == "123"


def test_display_text_keys_match_real_captures() -> None:
    keys = {
        m.follow("a")[1]: "pm_main_follow_message_viewer_2",
        m.share("a")[1]: "pm_mt_guidance_share",
        m.share("a", joined=5)[1]: "pm_mt_guidance_viewer_5_share",
        m.member("a", 3)[1]: "live_room_enter_toast",
        m.like("a", 15, 99)[1]: "pm_mt_msg_viewer",
    }
    for payload, key in keys.items():
        assert pb.SocialMessage.FromString(payload).common.display_text.key == key
    assert pb.SocialMessage.FromString(m.follow("a")[1]).action == 1
    assert pb.SocialMessage.FromString(m.share("a")[1]).action == 3
    assert pb.MemberMessage.FromString(m.member("a", 3)[1]).action == 1


def test_gift_streak_as_tiktok_sends_it() -> None:
    streak = [pb.GiftMessage.FromString(p) for _, p in m.gift_streak("bob", "Rose", 5)]
    assert [(g.repeat_count, g.repeat_end) for g in streak] == [
        (1, 0),
        (2, 0),
        (3, 0),
        (4, 0),
        (5, 0),
        (5, 1),
    ]
    assert len({g.group_id for g in streak}) == 1
    assert (
        streak[0].gift.id == 5655 and streak[0].gift.type == 1 and streak[0].gift.diamond_count == 1
    )


def test_non_streakable_gift_arrives_once_without_final() -> None:
    (only,) = m.gift_streak("bob", gifts.LION, 1)
    lion = pb.GiftMessage.FromString(only[1])
    assert lion.repeat_end == 0 and lion.gift.type == 2 and lion.gift.diamond_count == 29999


def test_viewers_fields() -> None:
    seq = pb.RoomUserSeqMessage.FromString(m.viewers(42, 1337, top=[("bob", 100)])[1])
    assert (seq.total, seq.total_user) == (42, 1337)
    assert seq.ranks[0].user.display_id == "bob"


def test_other_builders_decode() -> None:
    assert pb.SubNotifyMessage.FromString(m.subscribe("a", 3)[1]).sub_month == 3
    assert pb.QuestionNewMessage.FromString(m.question("a", "why?")[1]).data.content == "why?"
    assert pb.ControlMessage.FromString(m.control(m.ENDED)[1]).action == 3
    assert pb.EmoteChatMessage.FromString(m.emote("a", "e1")[1]).emote_list[0].emote_id == "e1"
    assert pb.EnvelopeMessage.FromString(m.envelope("a", 500)[1]).envelope_info.diamond_count == 500
    assert pb.LiveIntroMessage.FromString(m.intro("hi")[1]).content == "hi"
    assert pb.RoomPinMessage.FromString(m.pin("a", "pinned")[1]).chat_message.content == "pinned"
    start = pb.LinkMicBattle.FromString(m.battle_start(9, ["a", "b"])[1])
    assert start.action == 4 and len(start.anchors_info) == 2
    score = pb.LinkMicArmies.FromString(m.battle_score(9, {1: 10, 2: 20})[1])
    assert score.armies[2].hostscore == 20
    end = pb.LinkMicBattle.FromString(m.battle_end(9, {1: 10, 2: 20})[1])
    assert (end.battle_result[2].result, end.battle_result[1].result) == (0, 1)
    assert m.unknown("WebcastFancyNewMessage", b"\x01")[0] == "WebcastFancyNewMessage"


def test_bind_room_and_common_of() -> None:
    method, payload = m.chat("a", "x")
    bound = m.bind_room(method, payload, 7300000000000000001)
    assert m.common_of(bound)[2] == 7300000000000000001
    assert m.common_of(bound)[1] == m.common_of(payload)[1]
    assert m.common_of(b"\xff\xff") == ("", 0, 0)


def test_real_payloads_use_wire_method() -> None:
    rows = list(m.real_payloads(fixtures_dir() / "real-2023" / "payloads.jsonl"))
    assert len(rows) == 977
    assert any(method == "SystemMessage" for method, _ in rows)  # captured as RoomMessage


def test_our_msg_frame_has_the_reference_fixture_shape() -> None:
    """Same envelope as fixtures/synthetic/frame_gzip.bin (what reference clients decode)."""
    ref = pb.PushFrame.FromString((fixtures_dir() / "synthetic" / "frame_gzip.bin").read_bytes())
    ref_result = pb.FetchResult.FromString(gzip.decompress(ref.payload))
    assert {h.key for h in ref.headers} >= {"compress_type", "im-cursor"}
    assert (ref.service, ref.method, ref.payload_encoding) == (5, 8, "pb")
    assert ref_result.need_ack and ref_result.internal_ext.startswith("internal_src:dim")
    # the simulator's frames: see test_push.test_gzip_frames_carry_header_and_magic
    from bridge.sim import ids

    assert ids.new_internal_ext(1).startswith("internal_src:dim")
