"""Message types TikTok added since 2025-10 (docs/events.md, docs/protocol.md §8): battle
cards from real 2023 captures, super-fan barrages, and the types that stay `unknown`."""

from __future__ import annotations

from bridge.events import BattleEvent, StreamProcessor, SuperFanEvent, UnknownEvent
from bridge.events.builders import render
from bridge.sim import messages as m
from bridge.tiktok.pb import webcast_pb2 as pb
from tests.events._support import ROOM, assert_valid, real_payloads


def feed(method: str, payload: bytes) -> list[object]:
    proc = StreamProcessor(ROOM, like_window_s=0)
    return [*proc.feed_message(method, payload, 0.0), *proc.flush()]


def test_real_battle_item_cards_are_battle_card_events() -> None:
    rows = [r for r in real_payloads() if r["method"] == "WebcastLinkMicBattleItemCard"]
    events = [e for r in rows for e in feed(r["method"], r["payload"])]
    assert len(events) == len(rows) == 7
    assert all(isinstance(e, BattleEvent) and e.kind == "battle_card" for e in events)
    cards = {(e.card.kind, e.card.key) for e in events if isinstance(e, BattleEvent) and e.card}
    assert ("award", "pm_mt_mvp_getItem_crit") in cards
    assert ("critical_strike", "pm_mt_boost_crit_name") in cards
    for event in events:
        assert isinstance(event, BattleEvent)
        data = assert_valid(event, whole=True)
        assert data["battle_id"] != "0" and data["card"]["text"]
        if data["card"]["kind"] == "critical_strike":
            assert data["card"]["anchor_id"] and "sent 1 boosting glove" in data["card"]["text"]
        if data["card"]["kind"] == "award":
            assert data["card"]["text"].endswith(" got a boosting glove.")  # image left out


def test_real_barrages_of_other_kinds_stay_unknown() -> None:
    rows = [r for r in real_payloads() if r["method"] == "WebcastBarrageMessage"]
    assert rows
    for row in rows:
        (event,) = feed(row["method"], row["payload"])
        assert isinstance(event, UnknownEvent)
        assert (event.method, event.reason, event.size) == (
            "WebcastBarrageMessage",
            "unhandled",
            len(row["payload"]),
        )


def test_super_fan_barrage() -> None:
    fan = m.viewer("joao_br", "João")
    (event,) = feed(*m.super_fan(fan))
    assert isinstance(event, SuperFanEvent)
    data = assert_valid(event, whole=True)
    assert data["type"] == data["event_type"] == "super_fan"
    assert data["key"] == "ttlive_superfan_join_barrage"
    assert data["text"] == "João became a Super Fan"
    assert data["user"]["unique_id"] == "joao_br" and data["user"]["id"] == str(fan.id)


def test_super_fan_key_in_the_common_barrage_content_and_user_in_a_piece() -> None:
    msg = pb.BarrageMessage()
    msg.common.msg_id, msg.common.create_time = 11, 1_700_000_000_000
    msg.content.key = "pm_mt_generic"
    text = msg.common_barrage_content
    text.key = "ttlive_superfan_upgrade"
    text.default_pattern = "{0:user} is now a level {1:string} Super Fan"
    text.pieces.add(type=11).user_value.user.CopyFrom(m.viewer("ann"))
    text.pieces.add(type=1, string_value="2")
    (event,) = feed("WebcastBarrageMessage", msg.SerializeToString())
    assert isinstance(event, SuperFanEvent)
    assert (event.key, event.text) == ("ttlive_superfan_upgrade", "ann is now a level 2 Super Fan")
    assert event.user is not None and event.user.unique_id == "ann"


def test_super_fan_box_flagged_by_its_key() -> None:
    method, payload = m.envelope("bob", 300)
    msg = pb.EnvelopeMessage.FromString(payload)
    msg.common.display_text.key = "ttlive_superfanbox_send"
    (event,) = feed(method, msg.SerializeToString())
    assert assert_valid(event)["super_fan"] is True


def test_competition_and_banner_stay_unknown_and_harmless() -> None:
    for method, payload in (m.competition(), m.in_room_banner()):
        (event,) = feed(method, payload)
        assert isinstance(event, UnknownEvent)
        assert (event.method, event.reason) == (method, "unhandled")
        assert event.msg_id != 0  # the common part is read: de-duplicated like any message


def test_render_fills_placeholders_and_survives_bad_ones() -> None:
    text = pb.Text(default_pattern="{0:user} and {5:user} sent {1:string}{2:image}!")
    text.pieces.add().user_value.user.nickname = "Ann"
    text.pieces.add(string_value="a Rose")
    assert render(text) == "Ann and sent a Rose!"
    assert render(pb.Text()) is None
