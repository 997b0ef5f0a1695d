"""A bare-hands push client for the simulator tests: websockets + protobuf, nothing of ours.

Deliberately NOT bridge.tiktok: these tests check the simulator against docs/protocol.md, so
they must not share code (or mistakes) with the client under test.
"""

from __future__ import annotations

import asyncio
import gzip
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect

from bridge.tiktok.pb import webcast_pb2 as pb

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
WS_PATH = "/webcast/im/ws_proxy/ws_reuse_supplement/"


def ws_url(base: str, room_id: int | None, *, compress: str = "gzip", **extra: str) -> str:
    params = {
        "aid": "1988",
        "app_name": "tiktok_web",
        "device_platform": "web",
        "version_code": "180800",
        "compress": compress,
        "resp_content_type": "protobuf",
        "history_comment_count": "0",
        "heartbeat_duration": "10000",
    }
    if room_id is not None:
        params["room_id"] = str(room_id)
    params.update(extra)
    return f"{base}{WS_PATH}?{urlencode(params)}&version_code=270000"


async def open_socket(
    base: str, room_id: int | None, ttwid: str | None, **params: str
) -> ClientConnection:
    headers = {"User-Agent": UA}
    if ttwid is not None:
        headers["Cookie"] = f"ttwid={ttwid}; tt-target-idc=useast1a"
    return await connect(
        ws_url(base, room_id, **params),
        additional_headers=headers,
        ping_interval=None,  # TikTok does not answer WS pings (docs/protocol.md §5.2)
        compression=None,
    )


def enter_frame(room_id: int, enter_unique_id: int = 0) -> bytes:
    enter = pb.ImEnterRoomMessage(
        room_id=room_id, live_id=12, identity="audience", filter_welcome_msg="0"
    )
    enter.enter_unique_id = enter_unique_id
    frame = pb.PushFrame(payload_encoding="pb", payload_type="im_enter_room")
    frame.payload = enter.SerializeToString()
    return frame.SerializeToString()


def hb_frame(room_id: int, seq: int | None = None) -> bytes:
    hb = pb.HeartBeatMessage(room_id=room_id, send_packet_seq_id=seq or 0)
    frame = pb.PushFrame(payload_encoding="pb", payload_type="hb", payload=hb.SerializeToString())
    return frame.SerializeToString()


def ack_frame(log_id: int, internal_ext: str) -> bytes:
    frame = pb.PushFrame(log_id=log_id, payload_encoding="pb", payload_type="ack")
    frame.payload = internal_ext.encode()
    return frame.SerializeToString()


def parse(data: bytes | str) -> pb.PushFrame:
    assert isinstance(data, bytes)
    frame = pb.PushFrame()
    frame.ParseFromString(data)
    return frame


def headers_of(frame: pb.PushFrame) -> dict[str, str]:
    return {h.key: h.value for h in frame.headers}


def fetch_result(frame: pb.PushFrame) -> pb.FetchResult:
    """Decode a msg frame payload, gunzipping by header OR by magic bytes (both exist)."""
    payload = frame.payload
    if headers_of(frame).get("compress_type") == "gzip" or payload[:3] == b"\x1f\x8b\x08":
        payload = gzip.decompress(payload)
    result = pb.FetchResult()
    result.ParseFromString(payload)
    return result


async def recv_frame(ws: ClientConnection, within: float = 5.0) -> pb.PushFrame:
    return parse(await asyncio.wait_for(ws.recv(), within))


async def recv_until(ws: ClientConnection, payload_type: str, within: float = 5.0) -> pb.PushFrame:
    """Next frame of ``payload_type``, skipping others (e.g. hb replies)."""
    async with asyncio.timeout(within):
        while True:
            frame = parse(await ws.recv())
            if frame.payload_type == payload_type:
                return frame


async def joined(base: str, room_id: int, ttwid: str, **params: str) -> ClientConnection:
    """Open, heartbeat once, enter the room and swallow im_enter_room_resp (one client's order)."""
    ws = await open_socket(base, room_id, ttwid, **params)
    await ws.send(hb_frame(room_id, 1))
    await ws.send(enter_frame(room_id, 42))
    await recv_until(ws, "im_enter_room_resp")
    return ws
