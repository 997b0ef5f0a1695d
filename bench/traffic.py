"""Simulator-side traffic: pre-built inner messages and a paced sender.

Payloads are built before the clock starts (building protobufs in Python would make the
simulator, not the bridge, the bottleneck at 10,000 events/s) and handed straight to the
room's push sockets (``PushConnection.send_messages``: FetchResult, gzip, PushFrame with
headers, ack tracking — the simulator's real wire path, minus ``SimRoom.push``'s per-message
bookkeeping).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bridge.sim import SimRoom, messages
from bridge.tiktok.pb import webcast_pb2 as pb

Item = tuple[str, bytes, int]  # (method, payload, msg_id) as PushConnection takes them
_msg_ids = itertools.count(2**61)


def viewers(count: int = 200) -> list[pb.User]:
    return [messages.viewer(f"viewer_{i:03d}", f"Viewer {i}") for i in range(count)]


def chat_item(seq: int, user: pb.User, room_id: int) -> Item:
    """A chat whose text carries ``seq`` (the subscriber's regex reads it back)."""
    method, payload = messages.chat(
        user, f"#{seq} nice stream, hello from the bench!", room_id=room_id
    )
    return method, payload, messages.common_of(payload)[1]


def chats(first_seq: int, count: int, room_id: int, users: Sequence[pb.User]) -> list[Item]:
    return [chat_item(first_seq + i, users[i % len(users)], room_id) for i in range(count)]


def mixed_pool(users: Sequence[pb.User]) -> list[tuple[str, bytes]]:
    """A busy-room mix (likes and joins first) from the simulator's builders."""
    pool: list[tuple[str, bytes]] = []
    for i, user in enumerate(users[:40]):
        pool.append(messages.like(user, 1 + i % 15, 10_000 + i))
        pool.append(messages.member(user, 500 + i))
        pool.append(messages.like(user, 5, 10_100 + i))
        pool.append(messages.member(user, 501 + i))
        pool.append(messages.chat(user, f"hello {i} 👋"))
        if i % 2 == 0:
            pool.append(messages.viewers(400 + i, 9000 + i))
        if i % 4 == 0:
            pool.append(messages.follow(user, 100 + i))
        if i % 4 == 1:
            pool.append(messages.gift(user, "Rose"))
    return pool


def fresh_ids(batch: Sequence[tuple[str, bytes]]) -> list[Item]:
    """Reused payloads with new InnerMessage.msg_ids (the processor dedupes on those)."""
    return [(method, payload, next(_msg_ids)) for method, payload in batch]


def send(room: SimRoom, batch: list[Item]) -> int:
    sent = 0
    for conn in room.entered_connections():
        if conn.send_messages(batch):
            sent += 1
    return sent


@dataclass
class SendLog:
    batches: int = 0
    messages: int = 0
    started: float = 0.0  # time.monotonic()
    ended: float = 0.0
    send_time: dict[int, float] = field(default_factory=dict)  # seq -> time.time()

    @property
    def seconds(self) -> float:
        return self.ended - self.started


async def paced(
    rate: float,
    duration_s: float,
    batch_size: int,
    emit: Callable[[int], int],
) -> SendLog:
    """Call ``emit(k)`` for batch k at ``rate`` messages/s on an absolute schedule.

    ``emit`` returns how many messages it sent. A late schedule is caught up without
    sleeping (but yielding to the loop so the simulator still reads acks/heartbeats).
    """
    log = SendLog()
    interval = batch_size / rate
    total = max(1, round(rate * duration_s / batch_size))
    log.started = start = time.monotonic()
    for k in range(total):
        delay = start + k * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif k % 20 == 0:
            await asyncio.sleep(0)
        log.messages += emit(k)
        log.batches += 1
    log.ended = time.monotonic()
    return log
