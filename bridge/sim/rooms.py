"""A simulated streamer (handle, user id) and their room: live state, sockets, history.

All methods are plain synchronous calls on the event loop thread (writes are queued on
the sockets immediately); ``await room.drain()`` waits until the bytes left.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bridge.sim import messages
from bridge.sim.config import SimConfig
from bridge.sim.ids import new_room_id, user_id_for
from bridge.sim.records import AckRecord, ConnectionRecord, Signal
from bridge.tiktok.pb import webcast_pb2 as pb


class PushConnection(Protocol):
    """What a room does with a push socket (bridge.sim.push.PushConnection registers itself
    in ``connections``); a protocol, so the room need not import the socket code."""

    entered: bool
    closing: bool
    silent: bool
    unacked: dict[int, str]

    def send_messages(
        self, batch: list[tuple[str, bytes, int]], *, need_ack: bool | None = None
    ) -> bool: ...

    def close(self, code: int, reason: str, *, reason_key: str) -> None: ...

    def abort(self, reason_key: str) -> None: ...

    async def drain(self) -> None: ...

    def send_garbage(self, size: int = 64) -> None: ...

    def send_truncated(self) -> None: ...

    def send_raw(self, data: bytes) -> bool: ...


LIVE, OFFLINE = 2, 4  # TikTok room / user status codes (docs/protocol.md §3.4)


@dataclass(slots=True)
class SentChat:
    """A chat sent through the sign server's premium chat endpoint."""

    room_id: int
    content: str
    session_id: str


@dataclass(eq=False)
class SimRoom:
    unique_id: str
    user_id: int
    room_id: int | None = None
    status: int = OFFLINE
    age_restricted: bool = False
    nickname: str = ""
    title: str = "Simulated LIVE"
    viewers: int = 0
    total_viewers: int = 0
    likes: int = 0
    paused: bool = False
    history_limit: int = 50
    # The simulator's knobs (like_cap_per_user, v3_messages): shared, so a change applies
    # to rooms that exist already.
    config: SimConfig = field(default_factory=SimConfig)
    # Likes of each viewer in this stream as TikTok reports them (capped, §8 of the docs).
    reported_likes: dict[int, int] = field(default_factory=dict)
    # Chats kept for the sign server's initial batch and history_comment_count replay,
    # as (method, payload, msg_id): replays carry the SAME msg_ids.
    history: deque[tuple[str, bytes, int]] = field(default_factory=deque)
    connections: list[PushConnection] = field(default_factory=list)
    # The most push sockets this room ever had open at once (a cluster of bridges must
    # never watch one room twice, docs/cluster.md).
    max_sockets: int = 0
    records: list[ConnectionRecord] = field(default_factory=list)
    chats_sent: list[SentChat] = field(default_factory=list)
    changed: Signal = field(default_factory=Signal)
    # False once room_id has been used for a stream: the next go_live gets a new id.
    _room_id_fresh: bool = True

    # ------------------------------------------------------------ state

    @property
    def live(self) -> bool:
        return self.status == LIVE

    def owner(self) -> pb.User:
        return messages.viewer(
            self.unique_id, self.nickname or self.unique_id, user_id=self.user_id
        )

    def go_live(self, room_id: int | None = None, *, title: str | None = None) -> int:
        """Start a stream. Each new stream gets a new room id, as on TikTok."""
        if room_id is not None:
            self.room_id = room_id
        elif self.room_id is None or not self._room_id_fresh:
            self.room_id = new_room_id()
        self._room_id_fresh = False
        self.status = LIVE
        self.paused = False
        self.likes = 0
        self.reported_likes.clear()
        self.history.clear()
        if title is not None:
            self.title = title
        self.changed.notify()
        return self.room_id

    def end(self, action: int = messages.ENDED, *, control: bool = True) -> None:
        """End the stream: ControlMessage(action) to every socket, then close them.

        ``control=False`` closes without a control message (a replayed recording has its own).
        """
        if control:
            self.push(messages.control(action))
        self.status = OFFLINE
        self.paused = False
        for conn in list(self.connections):
            conn.close(1000, "room ended", reason_key="ended")
        self.changed.notify()

    def end_silently(self, socket: str = "open") -> None:
        """The stream ends without a control message (the app was killed): the room is
        offline at once, and its sockets stay ``open`` (heartbeats answered, nothing
        else), are ``dropped`` (TCP cut, no close frame) or ``closed`` (close frame)."""
        self.status = OFFLINE
        self.paused = False
        for conn in list(self.connections):
            if socket == "dropped":
                conn.abort("dropped")
            elif socket == "closed":
                conn.close(1000, "", reason_key="closed_by_server")
        self.changed.notify()

    def pause(self) -> None:
        self.paused = True
        self.push(messages.control(messages.PAUSED))

    def unpause(self) -> None:
        self.paused = False
        self.push(messages.control(messages.UNPAUSED))

    # ------------------------------------------------------------ traffic

    def push(self, *items: messages.Built, need_ack: bool | None = None) -> int:
        """Send messages to every socket that entered the room, as one msg frame each.

        Returns how many sockets got them (0 when nobody entered: TikTok does not queue).
        Without ``config.v3_messages`` the 2026 message types are dropped, as the older
        TikTok never sent them.
        """
        if not self.config.v3_messages:
            items = tuple(item for item in items if not messages.is_v3(*item))
        if not items:
            return 0
        batch = [self.prepare(item) for item in items]
        self._remember(batch)
        delivered = 0
        for conn in self.entered_connections():
            if conn.send_messages(batch, need_ack=need_ack):
                delivered += 1
        return delivered

    def push_raw(self, method: str, payload: bytes) -> int:
        """Push a payload byte-for-byte (e.g. a real captured one)."""
        return self.push((method, payload))

    def tap_likes(self, user: messages.UserLike, taps: int) -> int:
        """A viewer taps ``taps`` likes: the room total grows by all of them, sent as like
        messages of at most 15 (as TikTok batches them). With ``config.like_cap_per_user``
        the viewer's reported count stops growing at the cap (count 0 after it) while
        ``total`` stays right: TikTok's behaviour since 2025-11. Returns the room total."""
        viewer = messages.as_user(user)
        cap = self.config.like_cap_per_user
        while taps > 0:
            batch = min(taps, messages.LIKES_PER_MESSAGE)
            taps -= batch
            self.likes += batch
            reported = self.reported_likes.get(viewer.id, 0)
            count = batch if cap is None else max(0, min(batch, cap - reported))
            self.reported_likes[viewer.id] = reported + count
            self.push(messages.like(viewer, count, self.likes))
        return self.likes

    def prepare(self, item: messages.Built) -> tuple[str, bytes, int]:
        """(method, payload bound to this room, msg_id): one inner message as sent."""
        method, payload = item
        if self.room_id is not None:
            payload = messages.bind_room(method, payload, self.room_id)
        msg_id = messages.common_of(payload)[1]
        self._track(method, payload)
        return method, payload, msg_id

    def _track(self, method: str, payload: bytes) -> None:
        # Keep the room's counters in step with what was pushed (room/info reports them).
        if method == messages.ROOM_USER_SEQ:
            msg = pb.RoomUserSeqMessage()
            msg.ParseFromString(payload)
            self.viewers, self.total_viewers = msg.total, max(self.total_viewers, msg.total_user)
        elif method == messages.LIKE:
            like = pb.LikeMessage()
            like.ParseFromString(payload)
            self.likes = max(self.likes, like.total)

    def _remember(self, batch: list[tuple[str, bytes, int]]) -> None:
        for item in batch:
            if item[0] == messages.CHAT:
                self.history.append(item)
        while len(self.history) > self.history_limit:
            self.history.popleft()

    def recent_chats(self, count: int) -> list[tuple[str, bytes, int]]:
        return list(self.history)[-count:] if count > 0 else []

    def entered_connections(self) -> list[PushConnection]:
        return [c for c in self.connections if c.entered and not c.closing]

    async def drain(self) -> None:
        for conn in list(self.connections):
            await conn.drain()

    # ------------------------------------------------------------ misbehaviour

    def drop_connections(self) -> None:
        """Cut every socket without a close frame (network loss)."""
        for conn in list(self.connections):
            conn.abort("dropped")

    def close_connections(self, code: int = 1000, reason: str = "") -> None:
        for conn in list(self.connections):
            conn.close(code, reason, reason_key="closed_by_server")

    def half_open(self, on: bool = True) -> None:
        """Go silent on every socket (no msg, no hb replies) while keeping it open."""
        for conn in self.connections:
            conn.silent = on

    def send_garbage(self, size: int = 64) -> None:
        for conn in self.entered_connections():
            conn.send_garbage(size)

    def send_truncated(self) -> None:
        """A valid msg frame cut in half (the bytes still arrive as one WS message)."""
        for conn in self.entered_connections():
            conn.send_truncated()

    def send_raw(self, data: bytes) -> None:
        for conn in self.connections:
            conn.send_raw(data)

    # ------------------------------------------------------------ assertions

    @property
    def unacked(self) -> dict[int, str]:
        """log_id → internal_ext of msg frames that asked for an ack and got none yet."""
        out: dict[int, str] = {}
        for conn in self.connections:
            out.update(conn.unacked)
        return out

    @property
    def acks(self) -> list[AckRecord]:
        return [ack for rec in self.records for ack in rec.acks]

    async def wait_entered(self, count: int = 1, within: float = 10.0) -> None:
        """Until ``count`` sockets have entered the room (tests wait for facts, not sleeps)."""
        await self.changed.wait_for(lambda: len(self.entered_connections()) >= count, within)

    async def wait_closed(self, within: float = 10.0) -> None:
        await self.changed.wait_for(lambda: not self.connections, within)

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        await self.changed.wait_for(predicate, within)


def make_room(
    unique_id: str,
    *,
    live: bool,
    room_id: int | None,
    age_restricted: bool,
    user_id: int | None,
    history_limit: int,
    config: SimConfig | None = None,
) -> SimRoom:
    room = SimRoom(
        unique_id=unique_id,
        user_id=user_id if user_id is not None else user_id_for(unique_id),
        room_id=room_id,
        age_restricted=age_restricted,
        nickname=unique_id.replace("_", " ").replace(".", " ").title(),
        history_limit=history_limit,
        config=config if config is not None else SimConfig(),
    )
    if live:
        room.go_live(room_id)
    return room
