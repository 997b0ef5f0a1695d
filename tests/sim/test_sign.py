"""The Euler-style sign server (docs/protocol.md §4.2, §4.4)."""

from __future__ import annotations

import httpx

from bridge.sim import SimConfig, TikTokSimulator
from bridge.sim import messages as m
from bridge.tiktok.pb import webcast_pb2 as pb

UA = "Mozilla/5.0 test"


async def _fetch(client: httpx.AsyncClient, room_id: int, **headers: str) -> httpx.Response:
    params = {
        "client": "ttlive-python",
        "room_id": str(room_id),
        "user_agent": UA,
        "client_enter": "true",
    }
    return await client.get("/webcast/fetch", params=params, headers=headers)


async def test_fetch_returns_protobuf_and_cookies(
    simulator: TikTokSimulator, sim_client: httpx.AsyncClient
) -> None:
    room = simulator.add_user("alice", live=True)
    assert room.room_id is not None
    room.push(m.chat("ann", "earlier"))
    resp = await _fetch(sim_client, room.room_id)
    assert resp.status_code == 200
    result = pb.FetchResult.FromString(resp.content)
    assert result.cursor and result.internal_ext and result.need_ack and result.is_first
    assert result.push_server == simulator.push_server
    assert result.push_server.endswith("/webcast/im/ws_proxy/ws_reuse_supplement/")
    interval_ms = round(simulator.config.ping_interval_s * 1000)
    assert dict(result.route_params) and result.heartbeat_duration == interval_ms
    assert [msg.method for msg in result.messages] == [m.CHAT]
    cookie = resp.headers["X-Set-TT-Cookie"]
    assert cookie.startswith("ttwid=") and "tt_csrf_token=" in cookie
    assert cookie.split(";")[0].removeprefix("ttwid=") in simulator.ttwids
    assert resp.headers["X-Room-Id"] == str(room.room_id)


async def test_fetch_requires_room_and_user_agent(sim_client: httpx.AsyncClient) -> None:
    resp = await sim_client.get("/webcast/fetch", params={"room_id": 1})
    assert resp.status_code == 400


async def test_api_key_required(simulator: TikTokSimulator, sim_client: httpx.AsyncClient) -> None:
    simulator.faults.require_api_key = True
    assert (await _fetch(sim_client, 1)).status_code == 401
    assert (await _fetch(sim_client, 1, **{"X-Api-Key": "k"})).status_code == 200


async def test_unknown_api_key_refused() -> None:
    config = SimConfig(api_keys=frozenset({"good"}))
    async with (
        TikTokSimulator(config=config) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        assert (await _fetch(client, 1, **{"X-Api-Key": "bad"})).status_code == 401
        assert (await _fetch(client, 1, **{"X-Api-Key": "good"})).status_code == 200


async def test_sign_faults(simulator: TikTokSimulator, sim_client: httpx.AsyncClient) -> None:
    simulator.faults.sign_server_down = True
    assert (await _fetch(sim_client, 1)).status_code == 500
    simulator.clear_faults()
    simulator.faults.sign_empty_body = True
    empty = await _fetch(sim_client, 1)
    assert empty.status_code == 200 and empty.content == b""
    simulator.clear_faults()
    simulator.faults.sign_no_cookies = True
    assert "X-Set-TT-Cookie" not in (await _fetch(sim_client, 1)).headers


async def test_rate_limit_fault(simulator: TikTokSimulator, sim_client: httpx.AsyncClient) -> None:
    simulator.rate_limit(30)
    resp = await _fetch(sim_client, 1)
    assert resp.status_code == 429
    assert resp.headers["RateLimit-Remaining"] == "0"
    assert int(resp.headers["RateLimit-Reset"]) >= simulator.faults.rate_limited_until
    assert "message" in resp.json()


async def test_per_minute_limit() -> None:
    config = SimConfig(sign_limit_per_minute=2)
    async with (
        TikTokSimulator(config=config) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        codes = [(await _fetch(client, 1)).status_code for _ in range(3)]
        keyed = await _fetch(client, 1, **{"X-Api-Key": "k"})
    assert codes == [200, 200, 429]
    assert keyed.status_code == 200  # a key has its own bucket


async def test_chat_send(simulator: TikTokSimulator, sim_client: httpx.AsyncClient) -> None:
    room = simulator.add_user("alice", live=True)
    body = {"content": "hi from the bridge", "targetRoomId": str(room.room_id)}
    no_key = await sim_client.post("/webcast/chat", json=body)
    assert no_key.status_code == 401
    no_session = await sim_client.post("/webcast/chat", json=body, headers={"X-Api-Key": "k"})
    assert no_session.status_code == 401
    headers = {"X-Api-Key": "k", "x-cookie-header": "sessionid=abc; tt-target-idc=useast1a"}
    ok = await sim_client.post("/webcast/chat", json=body, headers=headers)
    assert ok.json()["code"] == 200
    assert [(c.content, c.session_id) for c in room.chats_sent] == [("hi from the bridge", "abc")]
    assert room.history[-1][0] == m.CHAT  # the sent message shows up in the room's chat
