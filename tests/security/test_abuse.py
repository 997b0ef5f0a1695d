"""Viewer-controlled strings (nicknames, unique ids, comments, gift names) with `+`, `#`,
`/`, NUL, control characters, 100 kB lengths and invalid UTF-8 never change a topic and
come out as valid, escaped JSON, cut at MAX_TEXT characters. Every topic seen on `#`
belongs to the expected set."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from bridge.tiktok.frames import MAX_TEXT
from tests.core.support import config_yaml, make_config, running, status_is
from tests.helpers.mosquitto import Mosquitto, Subscribe
from tests.reliability.soak import topic_expected

HOSTILE = [
    "+",
    "#",
    "a/b/c",
    "../../bridge/state",
    "x\x00y",
    "tiktok/alice/live",
    "\u202e\u0007\r\n",
    "é" * 50_000,  # 100 kB of UTF-8
    "$SYS/broker",
]


def invalid_utf8_chat() -> tuple[str, bytes]:
    """A ChatMessage whose comment bytes are not UTF-8 (protobuf refuses to build one)."""
    good = m.chat("mallory", "PLACEHOLDER")[1]
    return m.CHAT, good.replace(b"PLACEHOLDER", b"\xff\xfe\xc3(bad")


async def test_hostile_strings_never_reach_a_topic(
    mosquitto: Mosquitto, sim: TikTokSimulator, subscriber: Subscribe, tmp_path: Path
) -> None:
    room = sim.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "#")
    cfg = make_config(config_yaml(mosquitto, sim, tmp_path / "s", "- alice\n"), tmp_path)
    async with running(cfg):
        await rec.wait_for("tiktok/alice/state", status_is("connected"), timeout=20)
        for text in HOSTILE:
            user = m.viewer(text[:200] or "x", text)
            room.push(
                m.chat(user, text),
                m.gift(user, 5655, name=text, repeat_end=1),
                m.follow(user),
            )
        room.push(invalid_utf8_chat())
        marker = m.chat("last", "marker")
        room.push(marker)
        marker_id = str(m.common_of(marker[1])[1])
        await rec.wait_for("tiktok/alice/chat", lambda x: x.json()["msg_id"] == marker_id, 20)

    topics = {x.topic for x in rec.messages}
    assert all(topic_expected(t) for t in topics), sorted(
        t for t in topics if not topic_expected(t)
    )
    chats = [x for x in rec.on("tiktok/alice/chat")]
    texts = [x.json()["text"] for x in chats]
    for text in HOSTILE:
        assert text[:MAX_TEXT] in texts  # delivered intact (up to the cap), inside the JSON
    assert max(len(t) for t in texts) == MAX_TEXT  # the 100 kB comment did not travel on
    for x in chats:
        raw = x.payload
        json.loads(raw)  # valid JSON, strict
        assert b"\x00" not in raw and b"\x07" not in raw  # control characters escaped
        raw.decode("utf-8")  # valid UTF-8 on the wire
    gifts = [x.json() for x in rec.on("tiktok/alice/gift")]
    assert {g["gift"]["name"] for g in gifts} >= {"a/b/c", "#", "+"}
    # The invalid-UTF-8 comment was either refused by the decoder (counted) or published
    # as valid UTF-8 — never raw bytes.
    assert all("bad" not in t or t.isprintable() or "\ufffd" in t for t in texts)
