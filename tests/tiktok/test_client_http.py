"""TikTokClient HTTP calls against the simulator over real loopback sockets:
room resolution, room info, live check, gift catalogue, chat sending, rate limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bridge.settings.tiktok import Session, TikTokSettings
from bridge.sim.server import TikTokSimulator
from bridge.tiktok.budget import CallBudget
from bridge.tiktok.client import TikTokClient
from bridge.tiktok.errors import (
    AgeRestricted,
    Blocked,
    ChatNotAvailable,
    RateLimited,
    TikTokError,
    UserNotFound,
)
from tests.helpers.settings import tiktok_settings


@pytest.fixture
async def tt_sim() -> AsyncIterator[TikTokSimulator]:
    async with TikTokSimulator() as sim:
        yield sim


def make_client(sim: TikTokSimulator, **overrides: object) -> TikTokClient:
    settings = tiktok_settings(endpoints=sim.endpoints, http_timeout_s=5.0, **overrides)
    return TikTokClient(settings, budget=CallBudget(6000, burst=1000))


@pytest.fixture
async def client(tt_sim: TikTokSimulator) -> AsyncIterator[TikTokClient]:
    c = make_client(tt_sim)
    yield c
    await c.aclose()


@pytest.mark.parametrize(
    "user",
    ["alice_live", "@alice_live", "https://www.tiktok.com/@alice_live/live", "@Alice_Live"],
)
async def test_resolve_live_user_from_live_page(
    tt_sim: TikTokSimulator, client: TikTokClient, user: str
) -> None:
    room = tt_sim.add_user("alice_live", live=True)
    status = await client.resolve(user)
    assert status.unique_id == "alice_live"
    assert status.room_id == room.room_id
    assert (status.live, status.status, status.source) == (True, 2, "html")
    assert tt_sim.stats.http_requests["/api-live/user/room/"] == 0  # no fall-back needed


async def test_resolve_offline_user_with_past_room(
    tt_sim: TikTokSimulator, client: TikTokClient
) -> None:
    tt_sim.add_user("bob", room_id=7300000000000000042)
    status = await client.resolve("bob")
    assert (status.live, status.status, status.room_id) == (False, 4, 7300000000000000042)


async def test_resolve_never_live_user_falls_back_to_api(
    tt_sim: TikTokSimulator, client: TikTokClient
) -> None:
    tt_sim.add_user("carol")
    status = await client.resolve("carol")
    assert (status.live, status.room_id, status.source) == (False, None, "api")
    assert tt_sim.stats.http_requests["/api-live/user/room/"] == 1


async def test_resolve_unknown_user(tt_sim: TikTokSimulator, client: TikTokClient) -> None:
    with pytest.raises(UserNotFound):
        await client.resolve("nobody_here")
    with pytest.raises(UserNotFound):
        await client.resolve("not a name!")


async def test_resolve_captcha_is_blocked(tt_sim: TikTokSimulator, client: TikTokClient) -> None:
    tt_sim.add_user("alice_live", live=True)
    tt_sim.faults.captcha = True
    with pytest.raises(Blocked) as info:
        await client.resolve("alice_live")
    assert info.value.status == "blocked"


async def test_rate_limit_sets_retry_at_and_budget_waits_for_reset(
    tt_sim: TikTokSimulator, client: TikTokClient
) -> None:
    tt_sim.add_user("alice_live", live=True)
    # The live page is a challenge, so resolution falls back to api-live, which is 429.
    tt_sim.faults.captcha = True
    tt_sim.rate_limit(1.0)
    with pytest.raises(RateLimited) as info:
        await client.resolve("alice_live")
    retry_at = info.value.retry_at
    assert retry_at == int(tt_sim.faults.rate_limited_until) + 1  # the RateLimit-Reset header
    assert client.budget.blocked_until == retry_at
    tt_sim.clear_faults()

    requests_before = sum(tt_sim.stats.http_requests.values())
    pending = asyncio.create_task(client.resolve("alice_live"))
    await asyncio.sleep(0.2)
    assert not pending.done()
    assert sum(tt_sim.stats.http_requests.values()) == requests_before  # nothing sent yet
    status = await asyncio.wait_for(pending, 10)
    assert status.live
    assert time.time() >= retry_at


async def test_room_info_and_live_check(tt_sim: TikTokSimulator, client: TikTokClient) -> None:
    room = tt_sim.add_user("alice_live", live=True)
    room.viewers, room.likes, room.total_viewers = 12, 345, 678
    assert room.room_id is not None
    info = await client.room_info(room.room_id)
    assert (info.live, info.user_count, info.like_count, info.total_user) == (True, 12, 345, 678)
    assert info.owner["display_id"] == "alice_live"
    assert "HD1" in info.stream_urls
    assert await client.check_live(room.room_id) is True
    room.end()
    assert await client.check_live(room.room_id) is False
    assert (await client.room_info(room.room_id)).status == 4


async def test_age_restricted_room_needs_session(tt_sim: TikTokSimulator) -> None:
    room = tt_sim.add_user("adult", live=True, age_restricted=True)
    assert room.room_id is not None
    anonymous = make_client(tt_sim)
    with_session = make_client(tt_sim, session=Session("sid-secret"))
    try:
        with pytest.raises(AgeRestricted):
            await anonymous.room_info(room.room_id)
        assert (await with_session.room_info(room.room_id)).live
    finally:
        await anonymous.aclose()
        await with_session.aclose()


async def test_gift_catalogue_is_cached(tt_sim: TikTokSimulator, client: TikTokClient) -> None:
    room = tt_sim.add_user("alice_live", live=True)
    assert room.room_id is not None
    catalogue = await client.gift_catalogue(room.room_id)
    assert catalogue
    gift = next(iter(catalogue.values()))
    assert gift.name and gift.diamond_count > 0
    again = await client.gift_catalogue(room.room_id)
    assert again is catalogue
    assert tt_sim.stats.http_requests["/webcast/gift/list/"] == 1


async def test_gift_catalogue_failure_gives_empty_mapping(tt_sim: TikTokSimulator) -> None:
    # A dead webcast host: the catalogue is optional, so no error escapes.
    endpoints = tt_sim.endpoints
    client = TikTokClient(
        TikTokSettings(
            endpoints=type(endpoints)(
                www=endpoints.www,
                webcast="http://127.0.0.1:9",
                websocket=endpoints.websocket,
                sign_server=endpoints.sign_server,
            ),
            http_timeout_s=5.0,
        ),
        budget=CallBudget(6000, burst=100),
    )
    try:
        assert await client.gift_catalogue(1) == {}
    finally:
        await client.aclose()


async def test_send_chat_needs_session_and_key(tt_sim: TikTokSimulator) -> None:
    room = tt_sim.add_user("alice_live", live=True)
    assert room.room_id is not None
    no_session = make_client(tt_sim, sign_api_key="k")
    no_key = make_client(tt_sim, session=Session("sid-secret"))
    no_opt_in = make_client(tt_sim, session=Session("sid-secret"), sign_api_key="k")
    full = make_client(
        tt_sim, session=Session("sid-secret"), sign_api_key="k", session_to_sign_server=True
    )
    try:
        with pytest.raises(ChatNotAvailable):
            await no_session.send_chat(room.room_id, "hi")
        with pytest.raises(ChatNotAvailable):
            await no_key.send_chat(room.room_id, "hi")
        # The session only goes to the sign server with the user's explicit opt-in.
        with pytest.raises(ChatNotAvailable, match="send_session"):
            await no_opt_in.send_chat(room.room_id, "hi")
        assert room.chats_sent == []
        await full.send_chat(room.room_id, "hello chat")
        assert [(c.content, c.session_id) for c in room.chats_sent] == [
            ("hello chat", "sid-secret")
        ]
        room.end()
        with pytest.raises(TikTokError):
            await full.send_chat(room.room_id, "too late")
    finally:
        for c in (no_session, no_key, no_opt_in, full):
            await c.aclose()


async def test_send_chat_with_refused_key(tt_sim: TikTokSimulator) -> None:
    tt_sim.config.api_keys = frozenset({"good"})
    room = tt_sim.add_user("alice_live", live=True)
    assert room.room_id is not None
    client = make_client(
        tt_sim, session=Session("sid-secret"), sign_api_key="bad", session_to_sign_server=True
    )
    try:
        with pytest.raises(ChatNotAvailable) as info:
            await client.send_chat(room.room_id, "hi")
        assert "sid-secret" not in str(info.value)
        assert "bad" not in str(info.value).split()
    finally:
        await client.aclose()
