"""The push WebSocket, as TikTok runs it (docs/protocol.md §4.3, §5).

Handshake: room_id / aid / version_code / compress must be in the query, a User-Agent and
a ``ttwid`` cookie minted by this simulator (profile page or the sign server's
X-Set-TT-Cookie) must be sent; otherwise 400 or 415 + ``Handshake-Msg: DEVICE_BLOCKED``.
Accepted sockets get ``Handshake-Options: ping-interval=…; ping-timeout=…``.

After the upgrade nothing is sent until the client's ``im_enter_room`` names this room;
then ``im_enter_room_resp``, the ``history_comment_count`` replay, and live ``msg`` frames.
Every ``hb`` frame is answered with an ``hb`` frame; without heartbeats the server closes
the socket after ``SimConfig.heartbeat_timeout_s``. Acks are checked against what was sent.

The WebSocket layer is websockets' sans-I/O protocol driven over the simulator's own
asyncio streams, which lets faults write arbitrary bytes and keep sockets half-open.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import time
from collections.abc import Sequence
from typing import Protocol

from google.protobuf.message import DecodeError
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from bridge.sim import ids, messages
from bridge.sim.config import Faults, SimConfig
from bridge.sim.httpd import HttpRequest, HttpResponse
from bridge.sim.records import AckRecord, ConnectionRecord, FrameRecord, Stats
from bridge.sim.rooms import SimRoom
from bridge.tiktok.pb import webcast_pb2 as pb

WS_PATHS = ("/webcast/im/ws_proxy/ws_reuse_supplement/", "/webcast/im/push/v2/")
# Clients send these on the socket URL (docs/protocol.md §5.1); TikTok rejects the upgrade without.
REQUIRED_PARAMS = ("room_id", "aid", "version_code", "compress")
# TikTok's push frames carry these envelope numbers (see fixtures/synthetic).
SERVICE, METHOD = 5, 8
READ_SIZE = 65536
CLOSE_GRACE_S = 2.0


class PushHost(Protocol):
    """What a push socket needs from the simulator."""

    config: SimConfig
    faults: Faults
    stats: Stats

    def room_by_id(self, room_id: int) -> SimRoom | None: ...

    def ttwid_known(self, value: str) -> bool: ...

    def next_conn_id(self) -> int: ...


def is_push_path(path: str) -> bool:
    return path in WS_PATHS or path.rstrip("/") + "/" in WS_PATHS


def check_handshake(host: PushHost, request: HttpRequest) -> HttpResponse | None:
    """The rejection TikTok would answer with, or None when the upgrade may proceed."""
    faults = host.faults
    if faults.handshake_status is not None:
        return _reject(faults.handshake_status, "fault injected")
    query = request.query
    missing = [p for p in REQUIRED_PARAMS if p not in query]
    if missing:
        return _reject(400, f"missing params: {','.join(missing)}")
    if not query["room_id"].isdigit() or query["aid"] != "1988":
        return _reject(400, "bad room_id or aid")
    if not request.header("User-Agent"):
        return _reject(415, "DEVICE_BLOCKED")  # sockets without a User-Agent get blocked
    ttwid = request.cookies.get("ttwid", "")
    if not ttwid or not host.ttwid_known(ttwid):
        return _reject(415, "DEVICE_BLOCKED")
    if faults.block_device or ttwid in faults.blocked_ttwids:
        return _reject(415, "DEVICE_BLOCKED")
    return None


def _reject(status: int, handshake_msg: str) -> HttpResponse:
    # "200 instead of 101" is an ordinary page: no Handshake-* headers, the client just
    # never gets its upgrade.
    if status == 200:
        return HttpResponse(200, b"<html><body>ok</body></html>", [], "text/html")
    headers = [("Handshake-Msg", handshake_msg), ("Handshake-Status", str(status))]
    return HttpResponse(status, handshake_msg.encode(), headers)


def _select_subprotocol(
    protocol: ServerProtocol, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    # Some clients ask for "echo-protocol", others for nothing (docs/protocol.md §5.2).
    return Subprotocol("echo-protocol") if "echo-protocol" in offered else None


async def serve_websocket(
    host: PushHost,
    request: HttpRequest,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """Run one push socket to its end (the caller already checked the handshake)."""
    protocol = ServerProtocol(select_subprotocol=_select_subprotocol, max_size=1 << 20)
    protocol.receive_data(request.raw_head)
    events = protocol.events_received()
    if not events or not isinstance(events[0], Request):
        writer.close()
        return
    response = protocol.accept(events[0])
    if response.status_code == 101:
        config = host.config
        response.headers["Handshake-Options"] = (
            f"ping-interval={config.ping_interval_s:g}; ping-timeout={config.heartbeat_timeout_s:g}"
        )
    protocol.send_response(response)
    for data in protocol.data_to_send():
        writer.write(data)
    if response.status_code != 101:
        host.stats.ws_rejected[response.status_code] += 1
        writer.close()
        return
    room_id = int(request.query["room_id"])
    record = ConnectionRecord(
        conn_id=host.next_conn_id(),
        path=request.path,
        query=request.query,
        query_pairs=request.query_pairs,
        headers=list(request.headers),
        cookies=request.cookies,
        room_id=room_id,
    )
    host.stats.ws_accepted += 1
    conn = PushConnection(host, protocol, reader, writer, record)
    await conn.run()


class PushConnection:
    """One accepted push socket. Public attributes are read by tests."""

    def __init__(
        self,
        host: PushHost,
        protocol: ServerProtocol,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: ConnectionRecord,
    ) -> None:
        self.host = host
        self.protocol = protocol
        self.reader = reader
        self.writer = writer
        self.record = record
        self.room_id = record.room_id
        self.gzip = record.query.get("compress", "") == "gzip"
        self.history_count = _int(record.query.get("history_comment_count", "0"))
        self.entered = False
        self.closing = False
        self.silent = False  # half-open: nothing leaves the server any more
        # A "ws-fallback" socket (Faults.silent_socket): keepalives only, never the room.
        self.fallback = host.faults.silent_socket
        self.unacked: dict[int, str] = {}
        self._seq = 0
        self._frames_sent = 0
        self._last_hb = time.monotonic()
        self._next_viewers: float | None = None  # monotonic; set once the room is entered
        self._room: SimRoom | None = None

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        room = self.host.room_by_id(self.room_id)
        self._room = room
        if room is not None:
            room.records.append(self.record)
            room.connections.append(self)
            room.max_sockets = max(room.max_sockets, len(room.connections))
            room.changed.notify()
        try:
            await self._read_loop()
        except (ConnectionError, asyncio.IncompleteReadError):
            self.record.closed_reason = self.record.closed_reason or "connection_error"
        finally:
            self._detach()
            self.writer.close()

    def _detach(self) -> None:
        self.closing = True
        self.record.closed_reason = self.record.closed_reason or "client"
        room = self._room
        if room is not None and self in room.connections:
            room.connections.remove(self)
            room.changed.notify()

    async def _read_loop(self) -> None:
        while self.protocol.state is not State.CLOSED:
            budget = self._last_hb + self.host.config.heartbeat_timeout_s - time.monotonic()
            if budget <= 0 and not self.closing:
                self.host.stats.heartbeat_timeouts += 1
                # TikTok's close when heartbeats stop (close code 1000, docs/protocol.md §5.7).
                self.close(1000, "payload_handler_hb", reason_key="heartbeat_timeout")
                budget = CLOSE_GRACE_S
            if self.closing:
                budget = min(max(budget, 0.05), CLOSE_GRACE_S)
            elif self._next_viewers is not None:
                if self._next_viewers <= time.monotonic():
                    self._send_viewers()
                budget = max(min(budget, self._next_viewers - time.monotonic()), 0.01)
            try:
                data = await asyncio.wait_for(self.reader.read(READ_SIZE), budget)
            except TimeoutError:
                if self.closing:
                    return  # the client never answered our close frame
                continue
            if not data:
                self.protocol.receive_eof()
                self._flush(force=True)
                return
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.BINARY:
                    self._on_binary(bytes(event.data))
            self._flush()  # pongs and close replies; a half-open socket holds them back
            if self.protocol.eof_sent and not self.silent:
                return  # closing handshake done: the server closes TCP at once (RFC 6455 7.1.1)

    def close(self, code: int, reason: str, *, reason_key: str) -> None:
        """Start the closing handshake (the read loop ends the TCP connection)."""
        if self.closing or self.protocol.state is not State.OPEN:
            return
        self.record.closed_reason = reason_key
        self.closing = True
        self.protocol.send_close(code, reason)
        self._flush(force=True)
        self._notify()

    def abort(self, reason_key: str) -> None:
        """Cut the TCP connection without a close frame."""
        self.record.closed_reason = reason_key
        self.closing = True
        self.writer.transport.abort()
        self._notify()

    async def drain(self) -> None:
        if not self.writer.is_closing():
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    # ------------------------------------------------------------ incoming frames

    def _on_binary(self, data: bytes) -> None:
        self.host.stats.frames_received += 1
        frame = pb.PushFrame()
        try:
            frame.ParseFromString(data)
        except DecodeError:
            self._record(FrameRecord(time.monotonic(), "", 0, 0, data, valid=False))
            self.record.errors.append("undecodable frame")
            return
        kind = frame.payload_type
        entry = FrameRecord(time.monotonic(), kind, frame.seq_id, frame.log_id, frame.payload)
        self._record(entry)
        handler = {"hb": self._on_heartbeat, "im_enter_room": self._on_enter, "ack": self._on_ack}
        action = handler.get(kind)
        if action is None:
            self.record.errors.append(f"unexpected payload_type {kind!r}")
            return
        try:
            action(frame)
        except DecodeError:
            entry.valid = False
            self.record.errors.append(f"undecodable {kind} payload")
        self._notify()

    def _record(self, entry: FrameRecord) -> None:
        self.record.frames.append(entry)

    def _on_heartbeat(self, frame: pb.PushFrame) -> None:
        hb = pb.HeartBeatMessage()
        hb.ParseFromString(frame.payload)  # empty payload = the legacy bare `hb` frame
        if hb.room_id and hb.room_id != self.room_id:
            self.record.errors.append(f"heartbeat for room {hb.room_id}")
        self.record.heartbeats.append(hb.send_packet_seq_id or None)
        if not self.record.enter_room and self.host.config.early_heartbeat_closes:
            # The late-2025 order: enter first, then heartbeats (docs/protocol.md §5.3).
            self.host.stats.early_heartbeat_closes += 1
            self.close(1000, "payload_handler_hb", reason_key="early_heartbeat")
            return
        self._last_hb = time.monotonic()
        self._send_frame(pb.PushFrame(payload_type="hb", payload_encoding="pb"))

    def _on_enter(self, frame: pb.PushFrame) -> None:
        enter = pb.ImEnterRoomMessage()
        enter.ParseFromString(frame.payload)
        self.record.enter_room.append(enter.room_id)
        self.record.enter_unique_ids.append(enter.enter_unique_id)
        if enter.room_id != self.room_id:
            # Another room than the socket was opened for: TikTok delivers nothing.
            self.record.errors.append(f"im_enter_room for room {enter.room_id}")
            return
        if frame.payload_encoding != "pb":
            self.record.errors.append("im_enter_room without payload_encoding pb")
        if self.fallback:
            return  # never joins the room: nothing of it will arrive
        first_entry = not self.entered
        self.entered = True
        if self.host.config.enter_room_resp:
            resp = pb.ImEnterRoomMessage(
                room_id=self.room_id, enter_unique_id=enter.enter_unique_id
            )
            self._send_frame(
                pb.PushFrame(
                    payload_type="im_enter_room_resp",
                    payload_encoding="pb",
                    log_id=ids.new_log_id(),
                    payload=resp.SerializeToString(),
                )
            )
        if first_entry:
            self._replay_history()
            interval = self.host.config.viewer_updates_s
            if interval:
                self._next_viewers = time.monotonic() + interval

    def _send_viewers(self) -> None:
        """The room's periodic viewer count (SimConfig.viewer_updates_s)."""
        interval = self.host.config.viewer_updates_s or 0.0
        self._next_viewers = time.monotonic() + interval if interval else None
        room = self._room
        if room is not None and room.live and self.entered:
            self.send_messages([room.prepare(messages.viewers(room.viewers, room.total_viewers))])

    def _replay_history(self) -> None:
        room = self._room
        if room is None or not room.live or self.history_count <= 0:
            return
        chats = room.recent_chats(self.history_count)
        if chats:
            self.send_messages(chats, history=self.host.config.mark_history)

    def _on_ack(self, frame: pb.PushFrame) -> None:
        internal_ext = frame.payload.decode("utf-8", errors="replace")
        expected = self.unacked.pop(frame.log_id, None)
        ack = AckRecord(frame.log_id, internal_ext, expected)
        if expected is None:
            self.record.errors.append(f"ack for unknown log_id {frame.log_id}")
        self.record.acks.append(ack)
        if ack.ok:
            self.host.stats.acks_ok += 1
        else:
            self.host.stats.acks_bad += 1

    # ------------------------------------------------------------ outgoing frames

    def send_messages(
        self,
        batch: list[tuple[str, bytes, int]],
        *,
        need_ack: bool | None = None,
        history: bool = False,
    ) -> bool:
        """One msg frame carrying ``batch``; False when the socket is not sending."""
        if self.closing or self.silent:
            return False
        ack = self.host.config.need_ack if need_ack is None else need_ack
        result = pb.FetchResult(cursor=ids.new_cursor(), now=ids.now_ms(), need_ack=ack)
        result.internal_ext = ids.new_internal_ext(self.room_id)
        result.fetch_interval = 1000
        for method, payload, msg_id in batch:
            result.messages.add(method=method, payload=payload, msg_id=msg_id, is_history=history)
        frame = self._msg_frame(result)
        if ack:
            self.unacked[frame.log_id] = result.internal_ext
        self.record.sent_log_ids.append(frame.log_id)
        self.host.stats.messages_sent += len(batch)
        return self._send_frame(frame)

    def _msg_frame(self, result: pb.FetchResult) -> pb.PushFrame:
        raw = result.SerializeToString()
        payload = gzip.compress(raw, mtime=0) if self.gzip else raw
        frame = pb.PushFrame(
            log_id=ids.new_log_id(),
            service=SERVICE,
            method=METHOD,
            payload_encoding="pb",
            payload_type="msg",
            payload=payload,
        )
        if self._with_compress_header():
            frame.headers.add(key="compress_type", value="gzip" if self.gzip else "none")
        frame.headers.add(key="im-cursor", value=result.cursor)
        frame.headers.add(key="im-internal_ext", value=result.internal_ext)
        return frame

    def _with_compress_header(self) -> bool:
        mode = self.host.config.compress_header
        if mode == "alternate":
            return self._frames_sent % 2 == 0
        return mode == "always"

    def _send_frame(self, frame: pb.PushFrame) -> bool:
        if self.closing or self.silent:
            return False
        self._seq += 1
        frame.seq_id = self._seq
        self._frames_sent += 1
        self.host.stats.frames_sent += 1
        return self.send_raw(frame.SerializeToString())

    def send_raw(self, data: bytes) -> bool:
        """``data`` as one binary WebSocket message, whatever it holds."""
        if self.closing or self.silent or self.protocol.state is not State.OPEN:
            return False
        self.protocol.send_binary(data)
        self._flush()
        return True

    def send_garbage(self, size: int = 64) -> None:
        self.send_raw(b"\xff" + os.urandom(max(size - 1, 0)))

    def send_truncated(self) -> None:
        result = pb.FetchResult(cursor=ids.new_cursor(), internal_ext="truncated")
        result.messages.add(method="WebcastChatMessage", payload=b"\x1a\x05hello", msg_id=1)
        data = self._msg_frame(result).SerializeToString()
        self.send_raw(data[: len(data) // 2])

    def _flush(self, *, force: bool = False) -> None:
        if self.silent and not force:
            return
        for data in self.protocol.data_to_send():
            if data:
                self.writer.write(data)
            elif self.writer.can_write_eof():
                self.writer.write_eof()

    def _notify(self) -> None:
        if self._room is not None:
            self._room.changed.notify()


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0
