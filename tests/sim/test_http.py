"""TikTok's web endpoints answer like docs/protocol.md §3 says."""

from __future__ import annotations

import json
import re

import httpx

from bridge.sim import TikTokSimulator

SIGI = re.compile(r'<script id="SIGI_STATE" type="application/json">(.*?)</script>', re.S)
API_PARAMS = {"aid": "1988", "app_name": "tiktok_web", "sourceType": "54"}


def _sigi(page: str) -> dict[str, object]:
    match = SIGI.search(page)
    assert match is not None
    state = json.loads(match.group(1))
    assert isinstance(state, dict)
    return state


async def test_live_page_has_sigi_state(
    simulator: TikTokSimulator, sim_client: httpx.AsyncClient
) -> None:
    room = simulator.add_user("alice", live=True)
    resp = await sim_client.get("/@alice/live")
    info = _sigi(resp.text)["LiveRoom"]["liveRoomUserInfo"]  # type: ignore[index]
    assert info["user"] == info["user"] | {
        "roomId": str(room.room_id),
        "uniqueId": "alice",
        "status": 2,
    }
    assert info["liveRoom"]["status"] == 2


async def test_live_page_of_unknown_user_has_no_live_room(sim_client: httpx.AsyncClient) -> None:
    resp = await sim_client.get("/@nobody/live")
    assert resp.status_code == 200
    assert "LiveRoom" not in _sigi(resp.text)


async def test_offline_user_status_4(
    simulator: TikTokSimulator, sim_client: httpx.AsyncClient
) -> None:
    simulator.add_user("bob", room_id=7300000000000000099)
    state = _sigi((await sim_client.get("/@bob/live")).text)
    assert state["LiveRoom"]["liveRoomUserInfo"]["user"]["status"] == 4  # type: ignore[index]


async def test_captcha_page(simulator: TikTokSimulator, sim_client: httpx.AsyncClient) -> None:
    simulator.add_user("alice", live=True)
    simulator.faults.captcha = True
    resp = await sim_client.get("/@alice/live")
    assert "SIGI_STATE" not in resp.text and "tiktok-verify-page" in resp.text
    api = await sim_client.get("/api-live/user/room/", params=API_PARAMS | {"uniqueId": "alice"})
    assert not api.headers["content-type"].startswith("application/json")


async def test_profile_mints_ttwid_every_nth(
    simulator: TikTokSimulator, sim_client: httpx.AsyncClient
) -> None:
    simulator.config.ttwid_every = 2
    first = await sim_client.get("/@alice")
    second = await sim_client.get("/@tiktok")
    assert "ttwid" not in first.cookies
    assert second.cookies["ttwid"] in simulator.ttwids
    home = await sim_client.get("/")
    assert "ttwid" not in home.cookies  # the homepage no longer mints it


async def test_api_live_room(simulator: TikTokSimulator, sim_client: httpx.AsyncClient) -> None:
    room = simulator.add_user("alice", live=True)
    for path in ("/api-live/user/room/", "/api-live/user/room"):
        body = (await sim_client.get(path, params=API_PARAMS | {"uniqueId": "alice"})).json()
        assert body["statusCode"] == 0
        assert body["data"]["user"]["roomId"] == str(room.room_id)
        assert body["data"]["user"]["id"] == str(room.user_id)
        assert body["data"]["liveRoom"]["status"] == 2


async def test_api_live_user_not_found(sim_client: httpx.AsyncClient) -> None:
    body = (
        await sim_client.get("/api-live/user/room", params=API_PARAMS | {"uniqueId": "x"})
    ).json()
    assert body["statusCode"] == 19881007 and body["message"] == "user_not_found"


async def test_api_live_rate_limited(
    simulator: TikTokSimulator, sim_client: httpx.AsyncClient
) -> None:
    simulator.add_user("alice", live=True)
    simulator.rate_limit(60)
    resp = await sim_client.get("/api-live/user/room/", params=API_PARAMS | {"uniqueId": "alice"})
    assert resp.status_code == 429
    assert int(resp.headers["RateLimit-Reset"]) >= simulator.faults.rate_limited_until


async def test_room_info(simulator: TikTokSimulator, sim_client: httpx.AsyncClient) -> None:
    room = simulator.add_user("alice", live=True)
    body = (await sim_client.get("/webcast/room/info/", params={"room_id": room.room_id})).json()
    assert body["status_code"] == 0
    data = body["data"]
    assert data["status"] == 2 and data["owner"]["display_id"] == "alice"
    assert {"like_count", "total_user"} <= data["stats"].keys()
    assert "HD1" in data["stream_url"]["flv_pull_url"]


async def test_room_info_age_restricted_needs_session(
    simulator: TikTokSimulator, sim_client: httpx.AsyncClient
) -> None:
    room = simulator.add_user("adult", live=True, age_restricted=True)
    params = {"room_id": room.room_id}
    body = (await sim_client.get("/webcast/room/info/", params=params)).json()
    assert body["status_code"] == 4003110 and "prompts" in body["data"]
    logged_in = await sim_client.get(
        "/webcast/room/info/", params=params, headers={"Cookie": "sessionid=s"}
    )
    assert logged_in.json()["status_code"] == 0


async def test_check_alive(simulator: TikTokSimulator, sim_client: httpx.AsyncClient) -> None:
    live = simulator.add_user("alice", live=True).room_id
    ended = simulator.add_user("bob", room_id=7300000000000000077).room_id
    body = (
        await sim_client.get("/webcast/room/check_alive/", params={"room_ids": f"{live},{ended}"})
    ).json()
    assert [(d["room_id"], d["alive"]) for d in body["data"]] == [(live, True), (ended, False)]


async def test_gift_list(sim_client: httpx.AsyncClient) -> None:
    gifts = (await sim_client.get("/webcast/gift/list/", params={"room_id": 1})).json()["data"][
        "gifts"
    ]
    rose = next(g for g in gifts if g["id"] == 5655)
    assert rose["name"] == "Rose" and rose["diamond_count"] == 1 and rose["type"] == 1
    assert rose["image"]["url_list"]
    assert any(g["type"] != 1 for g in gifts)


async def test_keep_alive_serves_several_requests(simulator: TikTokSimulator) -> None:
    async with httpx.AsyncClient(base_url=simulator.base_url) as client:
        for _ in range(3):
            assert (await client.get("/webcast/gift/list/")).status_code == 200
    assert simulator.stats.http_requests["/webcast/gift/list/"] == 3
