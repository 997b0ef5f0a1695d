"""PushSession: one WebCast push WebSocket (docs/protocol.md §5).

Open: im_enter_room, then protobuf heartbeats on a timer (TikTok never answers WS pings).
Receive: every ``msg`` frame becomes one FetchResult, acked when the batch asks for it.
End: always by raising ConnectionLost (closed, failed, or silent for ``stale_after_s``), or
SilentSocket when no ``msg`` frame came within ``first_message_timeout_s`` of entering the
room; undecodable frames are counted and skipped, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bridge.settings.tiktok import TikTokSettings
from bridge.tiktok import frames, params, tunnel
from bridge.tiktok.budget import CallBudget
from bridge.tiktok.errors import (
    ConnectionLost,
    HandshakeRejected,
    RateLimited,
    SilentSocket,
    TikTokError,
    network_cause,
)
from bridge.tiktok.http import retry_at_from
from bridge.tiktok.pb import webcast_pb2 as pb

log = logging.getLogger(__name__)

# Real batches are KiB; the bound keeps a hostile peer from making us buffer without limit.
MAX_FRAME_BYTES = 16 * 1024 * 1024
# A server-announced heartbeat interval outside this range is ignored as nonsense.
_SERVER_INTERVAL_RANGE = (0.5, 120.0)
# Statuses TikTok uses to refuse the socket (docs/protocol.md §5.2).
_REJECTING_STATUSES = frozenset({200, 400, 401, 403, 415})


@dataclass(slots=True)
class PushStats:
    frames: int = 0  # every WebSocket message received
    msg_frames: int = 0  # decoded `msg` frames (= FetchResults yielded)
    bad_frames: int = 0  # undecodable frames, skipped
    heartbeats_sent: int = 0
    acks_sent: int = 0
    last_frame_at: float | None = None  # time.monotonic() of the last frame of any kind
    last_msg_at: float | None = None  # ... of the last `msg` frame (events, not keepalive)


@dataclass(frozen=True, slots=True)
class PushTarget:
    """Where and how to connect; produced per attempt by the client (sign or direct mode)."""

    url: str = field(repr=False)  # carries no secret, but is long and noisy
    user_agent: str
    headers: Sequence[tuple[str, str]] = field(repr=False)  # Cookie: secrets
    initial: pb.FetchResult | None = None


def handshake_rejection(exc: InvalidStatus) -> TikTokError:
    """Map a refused upgrade (any status but 101) onto the error taxonomy."""
    status = exc.response.status_code
    headers = exc.response.headers
    handshake_msg = headers.get("Handshake-Msg") or None
    if status == 429:
        return RateLimited("push socket: HTTP 429", retry_at=retry_at_from(headers))
    if status in _REJECTING_STATUSES or handshake_msg:
        detail = f" ({handshake_msg})" if handshake_msg else ""
        if status == 200:
            detail += ", 200 instead of 101"
        return HandshakeRejected(
            f"push socket rejected: HTTP {status}{detail}", status, handshake_msg
        )
    return ConnectionLost(f"push socket handshake failed: HTTP {status}")


def heartbeat_interval(handshake_options: str | None, default_s: float) -> float:
    """``ping-interval`` (seconds) of the Handshake-Options header, else ``default_s``."""
    options = params.parse_cookie_list(handshake_options or "")
    try:
        value = float(options.get("ping-interval", ""))
    except ValueError:
        return default_s
    low, high = _SERVER_INTERVAL_RANGE
    return value if low <= value <= high else default_s


class PushSession:
    """Async context manager and async iterator of FetchResults (one per `msg` frame).

    ``prepare`` obtains the target (sign-server fetch or ttwid) when the session is
    entered; the socket connect itself spends a ``budget`` token, and a 429 on the
    upgrade blocks the budget until its reset.
    """

    def __init__(
        self,
        room_id: int,
        settings: TikTokSettings,
        prepare: Callable[[], Awaitable[PushTarget]],
        *,
        budget: CallBudget | None = None,
    ) -> None:
        self.room_id = room_id
        self.settings = settings
        self.initial: pb.FetchResult | None = None
        self.stats = PushStats()
        self.heartbeat_interval_s = settings.heartbeat_interval_s
        self._prepare = prepare
        self._budget = budget
        self._ws: ClientConnection | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._last_seen = time.monotonic()
        self._entered_at = self._last_seen  # when im_enter_room went out
        self._lost: ConnectionLost | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> PushSession:
        target = await self._prepare()
        self.initial = target.initial
        if self._budget is not None:
            await self._budget.acquire("connect")
        try:
            self._ws = await self._connect(target)
        except RateLimited as exc:
            if self._budget is not None and exc.retry_at is not None:
                self._budget.block_until(exc.retry_at)
            raise
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
            self._heartbeat_task = None
        if self._ws is not None:
            await self._ws.close()

    async def _connect(self, target: PushTarget) -> ClientConnection:
        try:
            return await connect(
                target.url,
                **await tunnel.route(
                    self.settings.proxy, target.url, self.settings.connect_timeout_s
                ),
                additional_headers=list(target.headers),
                user_agent_header=target.user_agent,
                open_timeout=self.settings.connect_timeout_s,
                # TikTok never answers WebSocket pings: liveness comes from `hb` frames.
                ping_interval=None,
                ping_timeout=None,
                close_timeout=2,
                max_size=MAX_FRAME_BYTES,
            )
        except InvalidStatus as exc:
            raise handshake_rejection(exc) from None
        except TimeoutError:
            raise ConnectionLost("push socket: connect timed out") from None
        except Exception as exc:  # DNS, refused, TLS, proxy errors, invalid handshakes ...
            # Never the message: proxy errors can echo the proxy URL with credentials.
            raise ConnectionLost(f"push socket: cannot connect ({network_cause(exc)})") from None

    async def _start(self) -> None:
        ws = self._require_ws()
        self.heartbeat_interval_s = heartbeat_interval(
            ws.response.headers.get("Handshake-Options") if ws.response else None,
            self.settings.heartbeat_interval_s,
        )
        self._last_seen = time.monotonic()
        seq = 0
        if self.settings.heartbeat_order == "before_enter":
            # The older order (one heartbeat, then enter); TikTok has closed sockets that
            # heartbeat before entering since late 2025 (docs/protocol.md §5.3).
            seq = 1
            await self._send(frames.encode_heartbeat(self.room_id, seq))
            self.stats.heartbeats_sent += 1
        # A random enter_unique_id keeps rooms apart; the server echoes it (docs/protocol.md §5.5).
        enter_id = secrets.randbelow(2**63 - 1) + 1
        await self._send(frames.encode_enter_room(self.room_id, enter_unique_id=enter_id))
        self._entered_at = time.monotonic()
        self._heartbeat_task = asyncio.create_task(
            self._heartbeat_loop(seq), name=f"push-heartbeat-{self.room_id}"
        )

    def _require_ws(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("PushSession used outside 'async with'")
        return self._ws

    async def _send(self, data: bytes) -> None:
        try:
            await self._require_ws().send(data)
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    def _closed(self, exc: ConnectionClosed) -> ConnectionLost:
        rcvd = exc.rcvd
        reason = f"code {rcvd.code} {rcvd.reason!r}" if rcvd else "no close frame"
        return ConnectionLost(f"push socket closed ({reason})")

    async def _heartbeat_loop(self, seq: int) -> None:
        """Heartbeats after ``seq`` (already sent): at once, then every interval."""
        ws = self._require_ws()
        try:
            if seq:
                await asyncio.sleep(self.heartbeat_interval_s)
            while True:
                seq += 1  # send_packet_seq_id starts at 1 and grows per heartbeat
                await ws.send(frames.encode_heartbeat(self.room_id, seq))
                self.stats.heartbeats_sent += 1
                await asyncio.sleep(self.heartbeat_interval_s)
        except ConnectionClosed:
            return  # the receiving side reports the loss

    # -- receiving ----------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[pb.FetchResult]:
        return self._results()

    async def _results(self) -> AsyncIterator[pb.FetchResult]:
        while True:
            data = await self._receive()
            result = await self._handle(data)
            if result is not None:
                yield result

    async def _receive(self) -> str | bytes:
        if self._lost is not None:
            raise self._lost
        ws = self._require_ws()
        now = time.monotonic()
        timeout = self.settings.stale_after_s - (now - self._last_seen)
        first_msg_left = self._first_msg_left(now)
        if first_msg_left is not None:
            timeout = min(timeout, first_msg_left)
        try:
            # recv() is cancel-safe in websockets' asyncio client: a timeout loses nothing.
            async with asyncio.timeout(max(0.0, timeout)):
                data = await ws.recv()
        except TimeoutError:
            left = self._first_msg_left(time.monotonic())
            if left is not None and left <= 0:
                limit = self.settings.first_message_timeout_s
                self._lost = SilentSocket(f"no message within {limit:g} s of entering the room")
            else:
                limit = self.settings.stale_after_s
                self._lost = ConnectionLost(f"stale: no frame for {limit:g} s")
            await ws.close()
            raise self._lost from None
        except ConnectionClosed as exc:
            self._lost = self._closed(exc)
            raise self._lost from None
        now = time.monotonic()
        self._last_seen = now
        self.stats.frames += 1
        self.stats.last_frame_at = now
        return data

    def _first_msg_left(self, now: float) -> float | None:
        """Seconds left for the first ``msg`` frame; None once one arrived. Keepalives do
        not count: a live room always sends viewer counts or joins (docs/protocol.md §5.7)."""
        if self.stats.msg_frames:
            return None
        return self._entered_at + self.settings.first_message_timeout_s - now

    async def _handle(self, data: str | bytes) -> pb.FetchResult | None:
        if isinstance(data, str):
            return None  # text messages carry nothing (docs/protocol.md §5.4)
        try:
            frame = frames.decode_frame(data)
            if frame.payload_type != "msg":
                return None  # hb / ack / im_enter_room_resp: proof of life only
            result = frames.decode_msg_frame(frame)
        except frames.FrameError as exc:
            self.stats.bad_frames += 1
            log.debug("room %s: skipped undecodable frame: %s", self.room_id, exc)
            return None
        self.stats.msg_frames += 1
        self.stats.last_msg_at = self.stats.last_frame_at
        if result.need_ack and result.internal_ext:
            await self._ack(frame.log_id, result.internal_ext)
        return result

    async def _ack(self, log_id: int, internal_ext: str) -> None:
        """Ack with the PushFrame's log_id and THIS batch's internal_ext.

        Best effort: when the server is already closing, the send fails, but the batch in
        hand (and any still buffered) must still be delivered; the next recv() reports
        the loss once the buffered frames are read.
        """
        try:
            await self._require_ws().send(frames.encode_ack(log_id, internal_ext))
        except ConnectionClosed:
            log.debug("room %s: ack not sent, socket closing", self.room_id)
            return
        self.stats.acks_sent += 1
