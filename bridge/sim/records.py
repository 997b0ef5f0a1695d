"""What the simulator saw and did, kept for test assertions (no behaviour here)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class FrameRecord:
    """One frame a client sent on the push socket."""

    at: float  # time.monotonic()
    payload_type: str
    seq_id: int
    log_id: int
    payload: bytes
    valid: bool = True  # False: not a PushFrame, or its payload did not decode


@dataclass(slots=True)
class AckRecord:
    log_id: int
    internal_ext: str
    # What the simulator had sent with that log_id (None: it never sent that log_id).
    expected: str | None

    @property
    def ok(self) -> bool:
        return self.expected is not None and self.expected == self.internal_ext


@dataclass(slots=True)
class ConnectionRecord:
    """One push WebSocket, from handshake to close."""

    conn_id: int
    path: str
    query: dict[str, str]
    query_pairs: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    cookies: dict[str, str]
    room_id: int
    opened_at: float = field(default_factory=time.monotonic)
    frames: list[FrameRecord] = field(default_factory=list)
    enter_room: list[int] = field(default_factory=list)  # room ids of im_enter_room frames
    enter_unique_ids: list[int] = field(default_factory=list)
    heartbeats: list[int | None] = field(default_factory=list)  # send_packet_seq_id (None: absent)
    acks: list[AckRecord] = field(default_factory=list)
    sent_log_ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # protocol mistakes of the client
    closed_reason: str | None = None  # "client", "heartbeat_timeout", "dropped", "ended", ...

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP request or WebSocket upgrade, as answered (tests check timing and order)."""

    at: float  # time.time(): comparable with RateLimit-Reset and published retry_at
    method: str
    path: str
    status: int  # 101 for an accepted WebSocket upgrade


# Bounded: a demo or bench simulator may run for hours.
REQUEST_LOG_SIZE = 10_000


@dataclass(slots=True)
class Stats:
    http_requests: Counter[str] = field(default_factory=Counter)  # by path
    http_status: Counter[int] = field(default_factory=Counter)
    sign_fetches: int = 0
    sign_user_agents: list[str] = field(default_factory=list)  # user_agent of each fetch
    ws_accepted: int = 0
    ws_rejected: Counter[int] = field(default_factory=Counter)  # by HTTP status
    frames_sent: int = 0
    frames_received: int = 0
    messages_sent: int = 0
    acks_ok: int = 0
    acks_bad: int = 0
    heartbeat_timeouts: int = 0
    early_heartbeat_closes: int = 0  # sockets closed for a heartbeat before im_enter_room
    unsigned_refused: int = 0  # gift/list calls answered empty for want of a signature
    # URLs given to sign_url, as sent (bounded like the request log)
    sign_urls: deque[str] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))
    requests: deque[RequestRecord] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))


class Signal:
    """Wake waiters when simulator state changes, so tests wait for facts, not for time."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Return once ``predicate()`` holds; TimeoutError after ``within`` seconds."""
        async with asyncio.timeout(within):
            while not predicate():
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._waiters.append(fut)
                await fut
