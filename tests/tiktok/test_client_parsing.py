"""Parsing TikTok's answers (live page, api-live, room info, gift list, rate-limit headers)
and the call budget. Pure functions and asyncio only; the network tests use the simulator."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from bridge.clock import VirtualClock
from bridge.tiktok.budget import CallBudget
from bridge.tiktok.errors import (
    AgeRestricted,
    Blocked,
    ConnectionLost,
    HandshakeRejected,
    RateLimited,
    TikTokError,
    UserNotFound,
)
from bridge.tiktok.http import (
    extract_sigi_state,
    gifts_from_json,
    retry_at_from,
    room_info_from_json,
    room_status_from_api,
    room_status_from_sigi,
)
from bridge.tiktok.push import handshake_rejection, heartbeat_interval

ROOM = "7300000000000000001"


def sigi(live_status: int, room_id: str = ROOM) -> dict[str, object]:
    return {
        "LiveRoom": {
            "liveRoomUserInfo": {
                "user": {"roomId": room_id, "uniqueId": "alice", "status": live_status},
                "liveRoom": {"status": live_status, "title": "hi"},
            }
        }
    }


def test_sigi_state_script_tag() -> None:
    html = (
        '<html><script nonce="x" id="SIGI_STATE" type="application/json">'
        + json.dumps(sigi(2))
        + "</script><script>other</script></html>"
    )
    status = room_status_from_sigi(extract_sigi_state(html), "alice")
    assert (status.room_id, status.live, status.status, status.title) == (int(ROOM), True, 2, "hi")
    assert status.room_id == 7300000000000000001  # no float rounding of 64-bit ids
    assert status.source == "html"


def test_sigi_state_older_persisted_form() -> None:
    html = (
        "<script id=\"sigi-persisted-data\">window['SIGI_STATE']="
        + json.dumps(sigi(4))
        + ";window['SIGI_RETRY']={\"x\":1}</script>"
    )
    status = room_status_from_sigi(extract_sigi_state(html), "alice")
    assert (status.live, status.status, status.room_id) == (False, 4, int(ROOM))


@pytest.mark.parametrize(
    "html",
    [
        "<html>no state here</html>",
        '<div id="tiktok-verify-page">slide the puzzle</div>',
        '<script id="SIGI_STATE" type="application/json">{not json</script>',
    ],
)
def test_challenge_pages_are_blocked(html: str) -> None:
    with pytest.raises(Blocked):
        extract_sigi_state(html)


def test_sigi_without_live_room_means_unknown_user() -> None:
    with pytest.raises(UserNotFound):
        room_status_from_sigi({"AppContext": {}}, "ghost")
    with pytest.raises(TikTokError):
        room_status_from_sigi({"LiveRoom": {"liveRoomUserInfo": {"user": {}}}}, "x")


def test_sigi_room_id_zero_is_offline_without_room() -> None:
    status = room_status_from_sigi(sigi(4, room_id="0"), "alice")
    assert (status.room_id, status.live) == (None, False)


def test_api_live_answers() -> None:
    ok = {
        "statusCode": 0,
        "data": {"user": {"roomId": ROOM, "status": 2}, "liveRoom": {"status": 2, "title": "t"}},
    }
    status = room_status_from_api(ok, "alice")
    assert (status.room_id, status.live, status.source, status.title) == (
        int(ROOM),
        True,
        "api",
        "t",
    )
    offline = {"statusCode": 0, "data": {"user": {"roomId": "", "status": 4}}}
    assert room_status_from_api(offline, "alice").live is False
    assert room_status_from_api(offline, "alice").room_id is None
    with pytest.raises(UserNotFound):
        room_status_from_api({"statusCode": 19881007, "message": "x"}, "ghost")
    with pytest.raises(UserNotFound):
        room_status_from_api({"statusCode": 10202, "message": "user_not_found"}, "ghost")
    with pytest.raises(TikTokError):
        room_status_from_api({"statusCode": 5, "message": "other"}, "alice")


def test_room_info_fields_and_age_restriction() -> None:
    body = {
        "status_code": 0,
        "data": {
            "status": 2,
            "title": "stream",
            "user_count": 42,
            "stats": {"like_count": 7, "total_user": 1337},
            "owner": {"display_id": "alice"},
            "stream_url": {"flv_pull_url": {"HD1": "http://x/hd.flv", "SD1": "http://x/sd.flv"}},
        },
    }
    info = room_info_from_json(body, 1)
    assert (info.live, info.title, info.user_count, info.like_count, info.total_user) == (
        True,
        "stream",
        42,
        7,
        1337,
    )
    assert info.stream_urls == {"HD1": "http://x/hd.flv", "SD1": "http://x/sd.flv"}
    assert info.owner["display_id"] == "alice"
    for restricted in (
        {"status_code": 4003110, "data": {}},
        {"status_code": 0, "data": {"prompts": "log in"}},
        {"status_code": 0, "data": {"status": 2}},
    ):
        with pytest.raises(AgeRestricted):
            room_info_from_json(restricted, 1)


def test_gift_list_both_shapes() -> None:
    gift = {"id": 5655, "name": "Rose", "diamond_count": 1, "type": 1, "image": {"url_list": ["u"]}}
    for body in ({"data": {"gifts": [gift]}}, {"data": [gift, {"no": "id"}]}):
        catalogue = gifts_from_json(body)
        assert list(catalogue) == [5655]
        assert catalogue[5655].name == "Rose"
        assert catalogue[5655].image_url == "u"
    assert gifts_from_json({"data": None}) == {}


def test_retry_at_from_headers() -> None:
    assert retry_at_from(httpx.Headers({"RateLimit-Reset": "1900000000"}), now=5) == 1900000000
    assert retry_at_from(httpx.Headers({"ratelimit-reset": "30"}), now=1000.0) == 1030.0
    assert retry_at_from(httpx.Headers({"Retry-After": "12"}), now=1000.0) == 1012.0
    http_date = "Wed, 21 Oct 2037 07:28:00 GMT"
    assert retry_at_from(httpx.Headers({"Retry-After": http_date})) == 2139722880.0
    assert retry_at_from(httpx.Headers({})) is None


def rejection(status: int, **headers: str) -> TikTokError:
    response = Response(status, "x", Headers(headers))
    return handshake_rejection(InvalidStatus(response))


def test_handshake_rejections_are_classified() -> None:
    blocked = rejection(415, **{"Handshake-Msg": "DEVICE_BLOCKED"})
    assert isinstance(blocked, HandshakeRejected)
    assert (blocked.http_status, blocked.handshake_msg) == (415, "DEVICE_BLOCKED")
    assert isinstance(rejection(400), HandshakeRejected)
    two_hundred = rejection(200)
    assert isinstance(two_hundred, HandshakeRejected)
    assert "200 instead of 101" in str(two_hundred)
    limited = rejection(429, **{"RateLimit-Reset": "1900000000"})
    assert isinstance(limited, RateLimited)
    assert limited.retry_at == 1900000000
    assert isinstance(rejection(503), ConnectionLost)


def test_heartbeat_interval_from_handshake_options() -> None:
    assert heartbeat_interval("ping-interval=5; x=1", 10.0) == 5.0
    assert heartbeat_interval(None, 10.0) == 10.0
    assert heartbeat_interval("ping-interval=abc", 10.0) == 10.0
    assert heartbeat_interval("ping-interval=0", 10.0) == 10.0


async def test_budget_bucket_refills_at_rate() -> None:
    clock = VirtualClock()
    budget = CallBudget(60, burst=2, clock=clock, wall_clock=lambda: 0.0)
    await budget.acquire("a")
    await budget.acquire("b")
    third = asyncio.create_task(budget.acquire("c"))
    await clock.advance(0.99)
    assert not third.done()  # bucket empty: the token is 10 ms away
    await clock.advance(0.01)  # one second at 60/min refills one token
    assert third.done()
    assert budget.calls == {"a": 1, "b": 1, "c": 1}


async def test_budget_block_until_holds_every_call_until_reset() -> None:
    clock = VirtualClock()
    budget = CallBudget(600, burst=5, clock=clock, wall_clock=lambda: clock.monotonic())
    budget.block_until(clock.monotonic() + 30)
    budget.block_until(clock.monotonic() + 10)  # an earlier reset never shortens the block
    assert budget.blocked_until == clock.monotonic() + 30
    waiter = asyncio.create_task(budget.acquire("sign"))
    await clock.advance(29.9)
    assert not waiter.done()
    await clock.advance(0.1)
    assert waiter.done()
    assert budget.blocked_until is None
    assert budget.calls["sign"] == 1


def test_budget_rejects_nonsense_rate() -> None:
    with pytest.raises(ValueError):
        CallBudget(0)
