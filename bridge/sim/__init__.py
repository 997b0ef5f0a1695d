"""A protocol-faithful local TikTok (docs/protocol.md is the spec) for tests, demo, replay, bench.

It validates what clients send and refuses wrong behaviour the way TikTok does, so a client
that passes against it follows the real protocol. Public API (stable):

``TikTokSimulator(host="127.0.0.1", port=0, *, config=SimConfig())`` — ``async with`` or
``await start()`` / ``stop()`` / ``restart()`` (same port).

* ``endpoints`` → ``Endpoints`` (www, webcast, websocket, sign_server all on this port);
  ``base_url``, ``push_server``, ``port``.
* ``add_user(unique_id, *, live=False, room_id=None, age_restricted=False, user_id=None)``
  → ``SimRoom``; ``remove_user``; ``room(unique_id)``; ``room_by_id(room_id)``.
* faults: ``rate_limit(seconds)``, ``block_device(ttwid=None)``, ``handshake_status(400|200|None)``,
  ``faults.sign_server_down / sign_empty_body / sign_no_cookies / captcha / require_api_key``,
  ``clear_faults()``; knobs in ``config`` (``SimConfig``: heartbeat_timeout_s, compress_header,
  ttwid_every, sign_limit_per_minute, api_keys, mark_history, …).
* records: ``connections`` (every ``ConnectionRecord``: query, headers, cookies, frames,
  enter_room, heartbeats, acks, errors, closed_reason), ``acks``, ``stats``, ``ttwids``.
* ``await play(scenario, speed=...)``.

``SimRoom``: ``go_live(room_id=None)`` (a new room id per stream), ``end(action=3)``,
``pause()`` / ``unpause()``, ``push(*messages)`` / ``push_raw(method, payload)``,
``drop_connections()``, ``close_connections()``, ``half_open(on=True)``, ``send_garbage()``,
``send_truncated()``, ``send_raw(bytes)``, ``unacked``, ``acks``, ``records``, ``chats_sent``,
``await wait_entered(n)`` / ``wait_closed()`` / ``wait_for(predicate)``, ``await drain()``.

Message builders: ``bridge.sim.messages`` (chat, gift, gift_streak, like, member/join, follow,
share, viewers, subscribe, question, emote, envelope, battle_*, intro, pin, control, unknown,
real_payloads). Scripted sessions: ``bridge.sim.scenario`` (Scenario, demo_session).

HTTP routes (TikTok's paths): ``/@{user}``, ``/@{user}/live``, ``/api-live/user/room[/]``,
``/webcast/room/info/``, ``/webcast/room/check_alive/``, ``/webcast/gift/list/``; sign server:
``/webcast/fetch``, ``/webcast/room_id``, ``POST /webcast/chat``; push socket:
``/webcast/im/ws_proxy/ws_reuse_supplement/`` and ``/webcast/im/push/v2/``.
"""

from __future__ import annotations

from bridge.sim.config import Faults, SimConfig
from bridge.sim.records import AckRecord, ConnectionRecord, FrameRecord, Stats
from bridge.sim.rooms import SimRoom
from bridge.sim.scenario import Scenario, demo_session
from bridge.sim.server import TikTokSimulator

__all__ = [
    "AckRecord",
    "ConnectionRecord",
    "Faults",
    "FrameRecord",
    "Scenario",
    "SimConfig",
    "SimRoom",
    "Stats",
    "TikTokSimulator",
    "demo_session",
]
