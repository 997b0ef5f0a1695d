"""The simulator's HTTP endpoints: TikTok web (www + webcast) and the Euler-style sign server.

Paths are TikTok's own (docs/protocol.md §3, §4), so a client configured with the
simulator's base URLs builds exactly the requests it would send to TikTok.
"""

from __future__ import annotations

import html
import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from bridge.sim import gifts, ids
from bridge.sim.config import Faults, SimConfig
from bridge.sim.httpd import HttpRequest, HttpResponse, html_response, json_response
from bridge.sim.messages import chat, viewer
from bridge.sim.records import Stats
from bridge.sim.rooms import LIVE, SentChat, SimRoom
from bridge.tiktok.pb import webcast_pb2 as pb

Handler = Callable[[HttpRequest], HttpResponse]

USER_NOT_FOUND = 19881007
AGE_RESTRICTED = 4003110
CAPTCHA_HTML = (
    "<!DOCTYPE html><html><head><title>Security Check</title></head><body>"
    '<div id="tiktok-verify-page" class="captcha_verify_container">'
    "Verify to continue</div></body></html>"
)


class HttpHost(Protocol):
    config: SimConfig
    faults: Faults
    stats: Stats

    @property
    def push_server(self) -> str: ...

    def room_by_user(self, unique_id: str) -> SimRoom | None: ...

    def room_by_id(self, room_id: int) -> SimRoom | None: ...

    def mint_ttwid(self) -> str: ...


class HttpApi:
    def __init__(self, host: HttpHost) -> None:
        self.host = host
        self._profile_hits = 0
        self._sign_calls: dict[str, deque[float]] = {}

    def handle(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        self.host.stats.http_requests[path] += 1
        handler = self._route(request.method, path)
        response = handler(request) if handler else json_response(404, {"message": "not found"})
        self.host.stats.http_status[response.status] += 1
        return response

    def _route(self, method: str, path: str) -> Handler | None:
        if method == "POST":
            if path == "/webcast/chat" or (
                path.startswith("/webcast/rooms/") and path.endswith("/chat")
            ):
                return self.sign_chat
            return None
        if method != "GET":
            return None
        exact: dict[str, Handler] = {
            "/api-live/user/room/": self.api_live_room,
            "/api-live/user/room": self.api_live_room,
            "/webcast/room/info/": self.room_info,
            "/webcast/room/check_alive/": self.check_alive,
            "/webcast/gift/list/": self.gift_list,
            "/webcast/fetch": self.sign_fetch,
            "/webcast/fetch/": self.sign_fetch,
            "/webcast/room_id": self.sign_room_id,
            "/": self.homepage,
        }
        if path in exact:
            return exact[path]
        if path.startswith("/@"):
            return self.live_page if path.endswith("/live") else self.profile_page
        return None

    # ------------------------------------------------------------ www.tiktok.com

    def homepage(self, request: HttpRequest) -> HttpResponse:
        # The homepage stopped minting ttwid in late 2026 (docs/protocol.md §4.3): no cookie here.
        return html_response(200, "<html><body>TikTok (simulated)</body></html>")

    def profile_page(self, request: HttpRequest) -> HttpResponse:
        """GET /@user: sets a fresh ttwid on every ``ttwid_every``-th response
        (docs/protocol.md §4.3)."""
        if self.host.faults.captcha:
            return html_response(200, CAPTCHA_HTML, [("X-TT-System-Error", "3")])
        self._profile_hits += 1
        headers: list[tuple[str, str]] = []
        if self._profile_hits % max(self.host.config.ttwid_every, 1) == 0:
            headers.append(self._ttwid_cookie())
        handle = html.escape(request.path[2:].split("/")[0])
        return html_response(200, f"<html><body>@{handle} (simulated)</body></html>", headers)

    def _ttwid_cookie(self) -> tuple[str, str]:
        # No Domain/Secure attributes: the simulator is plain http on 127.0.0.1, where a
        # browser-faithful "Domain=.tiktok.com; Secure" cookie would be dropped by any jar.
        value = self.host.mint_ttwid()
        return ("Set-Cookie", f"ttwid={value}; Path=/; Max-Age=31536000; HttpOnly; SameSite=None")

    def live_page(self, request: HttpRequest) -> HttpResponse:
        """GET /@user/live: HTML with SIGI_STATE; a captcha page when the fault is on."""
        if self.host.faults.captcha:
            return html_response(200, CAPTCHA_HTML, [("X-TT-System-Error", "3")])
        unique_id = request.path[2:].split("/")[0]
        state: dict[str, Any] = {"AppContext": {"appContext": {"language": "en", "region": "US"}}}
        room = self.host.room_by_user(unique_id)
        if room is not None and room.room_id is not None:
            state["LiveRoom"] = {"liveRoomUserInfo": _live_room_user_info(room)}
        blob = json.dumps(state, ensure_ascii=False).replace("</", "<\\/")
        page = (
            "<!DOCTYPE html><html><head><title>LIVE (simulated)</title></head><body>"
            f'<script id="SIGI_STATE" type="application/json">{blob}</script>'
            "</body></html>"
        )
        return html_response(200, page)

    def api_live_room(self, request: HttpRequest) -> HttpResponse:
        """GET /api-live/user/room/?aid=1988&uniqueId=…&sourceType=54."""
        if self.host.faults.rate_limited():
            return self._rate_limited()
        if self.host.faults.captcha:
            return html_response(200, CAPTCHA_HTML, [("X-TT-System-Error", "3")])
        query = request.query
        if query.get("aid") != "1988" or not query.get("uniqueId"):
            return json_response(200, {"statusCode": 10101, "message": "params_error", "data": {}})
        room = self.host.room_by_user(query["uniqueId"])
        if room is None:
            return json_response(
                200, {"statusCode": USER_NOT_FOUND, "message": "user_not_found", "data": {}}
            )
        info = _live_room_user_info(room)
        user = dict(info["user"], id=str(room.user_id))
        data = {"user": user, "liveRoom": info["liveRoom"]}
        return json_response(200, {"statusCode": 0, "message": "", "data": data})

    # ------------------------------------------------------------ webcast.tiktok.com

    def room_info(self, request: HttpRequest) -> HttpResponse:
        room = self._room_param(request)
        if room is None:
            return json_response(200, {"status_code": 4003, "data": {"message": "room not found"}})
        if room.age_restricted and "sessionid" not in request.cookies:
            prompts = "This LIVE may be inappropriate for some users. Log in to watch."
            return json_response(200, {"status_code": AGE_RESTRICTED, "data": {"prompts": prompts}})
        return json_response(200, {"status_code": 0, "data": _room_info_data(room)})

    def check_alive(self, request: HttpRequest) -> HttpResponse:
        raw = request.query.get("room_ids", "")
        data = []
        for part in filter(None, raw.split(",")):
            if not part.isdigit():
                return json_response(200, {"status_code": 10011, "data": []})
            room = self.host.room_by_id(int(part))
            alive = room is not None and room.live
            data.append({"room_id": int(part), "room_id_str": part, "alive": alive})
        return json_response(200, {"status_code": 0, "data": data})

    def gift_list(self, request: HttpRequest) -> HttpResponse:
        payload = {"gifts": [g.to_json() for g in gifts.GIFTS], "simulated": True}
        return json_response(200, {"status_code": 0, "data": payload})

    def _room_param(self, request: HttpRequest) -> SimRoom | None:
        raw = request.query.get("room_id", "")
        return self.host.room_by_id(int(raw)) if raw.isdigit() else None

    # ------------------------------------------------------------ sign server (Euler-like)

    def sign_fetch(self, request: HttpRequest) -> HttpResponse:
        """GET /webcast/fetch?room_id=…&user_agent=…: the signed im/fetch result as protobuf."""
        refusal = self._sign_gate(request)
        if refusal is not None:
            return refusal
        query = request.query
        if not query.get("room_id", "").isdigit() or not query.get("user_agent"):
            return json_response(
                400, {"code": 400, "message": "room_id and user_agent are required"}
            )
        self.host.stats.sign_fetches += 1
        if self.host.faults.sign_empty_body:
            return HttpResponse(200, b"", [], "application/x-protobuf")
        room_id = int(query["room_id"])
        headers = [("X-Room-Id", str(room_id)), ("X-Request-Id", ids.new_token(8))]
        if not self.host.faults.sign_no_cookies:
            cookie = f"ttwid={self.host.mint_ttwid()}; tt_csrf_token={ids.new_token(12)}"
            headers.append(("X-Set-TT-Cookie", cookie))
        body = self._fetch_result(room_id).SerializeToString()
        return HttpResponse(200, body, headers, "application/x-protobuf")

    def _fetch_result(self, room_id: int) -> pb.FetchResult:
        config = self.host.config
        result = pb.FetchResult(
            cursor=ids.new_cursor(),
            internal_ext=ids.new_internal_ext(room_id),
            fetch_interval=1000,
            now=ids.now_ms(),
            need_ack=True,
            is_first=True,
            heartbeat_duration=round(config.ping_interval_s * 1000),
            push_server=self.host.push_server,
            history_no_more=True,
        )
        result.route_params["wrss"] = ids.new_token(12)
        room = self.host.room_by_id(room_id)
        if room is not None and room.live:
            for method, payload, msg_id in room.recent_chats(config.fetch_history_count):
                result.messages.add(method=method, payload=payload, msg_id=msg_id)
        return result

    def sign_room_id(self, request: HttpRequest) -> HttpResponse:
        """Euler's room-id lookup (GET /webcast/room_id?uniqueId=…)."""
        refusal = self._sign_gate(request)
        if refusal is not None:
            return refusal
        room = self.host.room_by_user(request.query.get("uniqueId", ""))
        if room is None:
            return json_response(200, {"code": 404, "ok": False, "message": "user not found"})
        payload = {
            "code": 200,
            "ok": True,
            "message": "",
            "room_id": str(room.room_id or ""),
            "is_live": room.live,
            "source": "simulator",
        }
        return json_response(200, payload)

    def sign_chat(self, request: HttpRequest) -> HttpResponse:
        """POST /webcast/chat {content, targetRoomId}: premium; needs a key and a session."""
        refusal = self._sign_gate(request, key_required=True)
        if refusal is not None:
            return refusal
        session = _cookie_pairs(request.header("x-cookie-header") or "").get("sessionid")
        if not session:
            return json_response(
                401, {"code": 401, "message": "x-cookie-header with sessionid required"}
            )
        try:
            body = request.json()
            content = str(body["content"])
            room_id = int(body.get("targetRoomId") or request.path.split("/")[3])
        except (ValueError, KeyError, IndexError, TypeError):
            return json_response(400, {"code": 400, "message": "content and targetRoomId required"})
        room = self.host.room_by_id(room_id)
        if room is None or not room.live:
            return json_response(200, {"code": 404, "message": "room is not live", "data": None})
        room.chats_sent.append(SentChat(room_id, content, session))
        sender = viewer("sim_session_user", "Session User")
        room.push(chat(sender, content))
        return json_response(200, {"code": 200, "message": "ok", "data": {"sent": True}})

    def _sign_gate(
        self, request: HttpRequest, *, key_required: bool = False
    ) -> HttpResponse | None:
        """Outage, auth and rate limit checks shared by every sign-server route."""
        faults = self.host.faults
        if faults.sign_server_down:
            return json_response(500, {"code": 500, "message": "Empty response payload"})
        key = _api_key(request)
        allowed = self.host.config.api_keys
        if (key_required or faults.require_api_key) and not key:
            return json_response(401, {"code": 401, "message": "An API key is required"})
        if key and allowed and key not in allowed:
            return json_response(401, {"code": 401, "message": "Invalid API key"})
        if faults.rate_limited():
            return self._rate_limited()
        return self._count_sign_call(key or "anonymous")

    def _count_sign_call(self, bucket: str) -> HttpResponse | None:
        limit = self.host.config.sign_limit_per_minute
        if limit is None:
            return None
        now = time.time()
        calls = self._sign_calls.setdefault(bucket, deque())
        while calls and calls[0] <= now - 60:
            calls.popleft()
        if len(calls) >= limit:
            return self._rate_limited(reset=calls[0] + 60)
        calls.append(now)
        return None

    def _rate_limited(self, reset: float | None = None) -> HttpResponse:
        until = reset if reset is not None else self.host.faults.rate_limited_until
        headers = [
            ("RateLimit-Remaining", "0"),
            ("RateLimit-Reset", str(int(until) + 1)),
            ("Retry-After", str(max(int(until - time.time()) + 1, 1))),
        ]
        payload = {"message": "Too many requests", "limit_label": "minute"}
        return json_response(429, payload, headers)


def _api_key(request: HttpRequest) -> str | None:
    return request.header("X-Api-Key") or request.query.get("apiKey") or None


def _cookie_pairs(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in value.split(";"):
        name, sep, val = part.strip().partition("=")
        if sep:
            out[name] = val
    return out


def _live_room_user_info(room: SimRoom) -> dict[str, Any]:
    status = room.status
    user = {
        "id": str(room.user_id),
        "uniqueId": room.unique_id,
        "nickname": room.nickname,
        "roomId": str(room.room_id or ""),
        "status": status,
        "secUid": f"MS4wLjABAAAA{room.user_id:x}sim",
    }
    live_room = {
        "status": status,
        "title": room.title,
        "liveRoomStats": {"userCount": room.viewers},
        "startTime": int(time.time()) if status == LIVE else 0,
    }
    return {"user": user, "liveRoom": live_room}


def _room_info_data(room: SimRoom) -> dict[str, Any]:
    room_id = room.room_id or 0
    base = f"https://pull-flv-sim.tiktokcdn.com/stage/stream-{room_id}"
    return {
        "id": room_id,
        "id_str": str(room_id),
        "status": room.status,
        "title": room.title,
        "user_count": room.viewers,
        "stats": {"like_count": room.likes, "total_user": room.total_viewers},
        "owner": {
            "id": room.user_id,
            "id_str": str(room.user_id),
            "display_id": room.unique_id,
            "nickname": room.nickname,
            "avatar_thumb": {"url_list": [f"https://sim.invalid/avatar/{room.user_id}.webp"]},
        },
        "stream_url": {
            "flv_pull_url": {
                q: f"{base}_{q.lower()}.flv" for q in ("FULL_HD1", "HD1", "SD1", "SD2")
            },
            "live_core_sdk_data": {},
        },
        "age_restricted": {"restricted": room.age_restricted},
        "simulated": True,
    }
