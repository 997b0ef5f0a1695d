"""One live stream's message pipeline: dedupe → decode → events, gift streaks, like windows.

Pure: no I/O and no timers. The caller passes a monotonic ``now`` to ``feed``/``tick`` (the
bridge calls ``tick`` about once a second), so tests drive time explicitly. A message that fails
to decode becomes an ``unknown`` event and a counter; nothing raises out of the processor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

from bridge.events.builders import UNKNOWN_TOPICS, lookup, wanted_methods
from bridge.events.dedupe import Deduper
from bridge.events.gifts import GiftStreaks
from bridge.events.likes import LikeBatcher
from bridge.events.model import Event, GiftEvent, GiftInfo, LikeEvent, StreamEvent, UnknownEvent
from bridge.tiktok.frames import as_text, parser
from bridge.tiktok.pb import webcast_pb2 as pb


@dataclass(slots=True)
class ProcessorStats:
    decoded: int = 0  # messages turned into a modelled event
    unknown: int = 0  # unknown events emitted (no model, or bad)
    bad: int = 0  # messages that failed to decode
    duplicates: int = 0  # messages dropped as already seen
    skipped: int = 0  # messages not parsed: none of their events is wanted


_COMMON_ONLY = parser(pb.CommonOnly)
# Event classes that go through _route (streaks, like windows, stream end); every other
# class is published as built. Exact types: none of these classes has a subclass.
_ROUTED: frozenset[type[Event]] = frozenset({GiftEvent, LikeEvent, StreamEvent})


def common_of(payload: bytes) -> pb.Common | None:
    """Field 1 (``common``) of any WebCast message, without knowing the message type.

    Parsed with the schema's ``CommonOnly`` (every other field is skipped as unknown), so
    messages we do not model still carry the real msg_id / room_id / time in their
    ``unknown`` event and are de-duplicated like every other message.
    """
    try:
        only = _COMMON_ONLY.FromString(payload)
    except Exception:  # any malformed input: no common, not an error
        return None
    return only.common if only.HasField("common") else None


class _Message(Protocol):
    """What ``_feed`` reads of an inner message: pb.InnerMessage, or _Inner."""

    @property
    def method(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def msg_id(self) -> int: ...


class _Inner(NamedTuple):
    """One inner message given by its parts (feed_message)."""

    method: str
    payload: bytes
    msg_id: int


class StreamProcessor:
    def __init__(
        self,
        room_id: int,
        *,
        like_window_s: float = 1.0,
        gift_streak_timeout_s: float = 10.0,
        gift_progress: bool = False,
        dedupe_size: int = 4096,
        clock: Callable[[], float] = time.time,
        gifts: Mapping[int, GiftInfo] | None = None,
        topics: Collection[str] | None = None,
    ):
        self.room_id = room_id
        # The room's gift catalogue (gift/list): fills in a gift whose message lacks details.
        self.gifts: Mapping[int, GiftInfo] = gifts or {}
        self.stats = ProcessorStats()
        self._dedupe = Deduper(dedupe_size)
        self._streaks = GiftStreaks(timeout_s=gift_streak_timeout_s, progress=gift_progress)
        self._likes = LikeBatcher(window_s=like_window_s)
        # Wall clock only for the timestamp of messages that carry no create_time.
        self._clock = clock
        self._wanted: frozenset[str] | None = None
        self._unknown_wanted = True
        self.topics = topics

    @property
    def topics(self) -> frozenset[str] | None:
        """The event topics (``Event.topic``, "viewers") to produce; None = all of them.

        A message whose method can only produce other topics is dropped before it is parsed
        (counted in ``stats.skipped``): on a pure-Python protobuf the parse is most of the
        cost of a message. Settable at any time (a reload changes the streamer's events).
        """
        return self._topics

    @topics.setter
    def topics(self, topics: Collection[str] | None) -> None:
        self._topics = None if topics is None else frozenset(topics)
        if self._topics is None:
            self._wanted, self._unknown_wanted = None, True
        else:
            self._wanted = wanted_methods(self._topics)
            self._unknown_wanted = not self._topics.isdisjoint(UNKNOWN_TOPICS)

    @property
    def max_like_total(self) -> int:
        """Highest room like total seen in this stream (monotonic)."""
        return self._likes.max_total

    @property
    def pending(self) -> bool:
        """Like windows or gift streaks are open: ``tick`` has events to release later."""
        return self._likes.pending or self._streaks.open_streaks > 0

    def remember(self, msg_ids: Iterable[int]) -> None:
        """Treat ``msg_ids`` as seen: published by a previous owner of the stream (a cluster
        handover, docs/cluster.md), so TikTok's replay on connect is not published again."""
        for msg_id in msg_ids:
            self._dedupe.seen(msg_id)

    def feed(self, result: pb.FetchResult, now: float) -> list[Event]:
        """Every inner message of one fetch result (a push frame's payload)."""
        out = self.tick(now)
        self._feed(result.messages, now, out)
        return out

    def feed_message(self, method: str, payload: bytes, now: float, msg_id: int = 0) -> list[Event]:
        """One inner message (``InnerMessage.method`` / ``payload`` / ``msg_id``)."""
        out = self.tick(now)
        self._feed((_Inner(method, payload, msg_id),), now, out)
        return out

    def tick(self, now: float) -> list[Event]:
        """Events that are due by time: closed like windows and timed-out gift streaks."""
        out: list[Event] = []
        out.extend(self._streaks.expire(now))
        out.extend(self._likes.expire(now))
        return out

    def flush(self) -> list[Event]:
        """Everything still pending (end of stream, end of a decoded file)."""
        out: list[Event] = []
        out.extend(self._streaks.flush())
        out.extend(self._likes.flush())
        return out

    # ------------------------------------------------------------------------- internals

    def _feed(self, messages: Iterable[_Message], now: float, out: list[Event]) -> None:
        """The events of each inner message, appended to ``out``.

        Per message (~12 per frame in a busy room), so written as one flat loop: no call per
        message of its own, one dict access for the parser and builder, the envelope read
        from ``common`` once, events that need no gift streak, like window or stream end
        appended without further checks.
        """
        stats, seen, wanted = self.stats, self._dedupe.seen, self._wanted
        for inner in messages:
            method, msg_id = inner.method, inner.msg_id
            if type(method) is not str:  # invalid UTF-8 only; as_text is a call per message
                method = as_text(method)
            entry = lookup(method)
            # Not wanted: modelled but none of its topics, or unmodelled without "unknown".
            if (
                wanted is not None
                and method not in wanted
                and (entry is not None or not self._unknown_wanted)
            ):
                stats.skipped += 1
                continue
            if msg_id and seen(msg_id):
                stats.duplicates += 1
                continue
            payload = inner.payload
            if entry is None:
                out.extend(self._unknown(method, payload, msg_id, "unhandled"))
                continue
            try:
                msg = entry[0].FromString(payload)
            except Exception:
                out.extend(self._unknown(method, payload, msg_id, "decode_error"))
                continue
            common: pb.Common = msg.common  # field 1 of every event
            if not msg_id:
                msg_id = common.msg_id
                if seen(msg_id):
                    stats.duplicates += 1
                    continue
            create_time = common.create_time
            if create_time <= 0:
                create_time = int(self._clock() * 1000)
            try:
                event = entry[1](msg, msg_id, common.room_id or self.room_id, create_time)
            except Exception:
                # A builder bug or a message shape we did not expect: keep streaming.
                out.extend(self._unknown(method, payload, msg_id, "decode_error"))
                continue
            stats.decoded += 1
            if isinstance(event, LikeEvent):  # the most frequent message in a busy room
                out.extend(self._likes.feed(event, now))
            elif type(event) in _ROUTED:
                out.extend(self._route(event, now))
            else:
                out.append(event)

    def _route(self, event: Event, now: float) -> list[Event]:
        if isinstance(event, GiftEvent):
            return list(self._streaks.feed(self._with_catalogue(event), now))
        if isinstance(event, LikeEvent):
            return list(self._likes.feed(event, now))
        if isinstance(event, StreamEvent) and event.kind == "ended":
            # Nothing after the end belongs to this stream: publish pending gifts/likes first.
            return [*self.flush(), event]
        return [event]

    def _with_catalogue(self, event: GiftEvent) -> GiftEvent:
        """The catalogue's name, diamonds, type and image where the message has none."""
        gift = event.gift
        known = self.gifts.get(gift.id) if self.gifts else None
        if known is None or (gift.name and gift.diamonds_each and gift.type):
            return event
        filled = GiftInfo(
            id=gift.id,
            name=gift.name or known.name,
            diamonds_each=gift.diamonds_each or known.diamonds_each,
            type=gift.type or known.type,
            image_url=gift.image_url or known.image_url,
        )
        return replace(event, gift=filled)

    def _env_from_common(self, common: pb.Common | None, msg_id: int) -> dict[str, Any]:
        create_time = common.create_time if common is not None else 0
        if create_time <= 0:
            create_time = int(self._clock() * 1000)
        return {
            "msg_id": msg_id or (common.msg_id if common is not None else 0),
            "room_id": (common.room_id if common is not None else 0) or self.room_id,
            "create_time_ms": create_time,
        }

    def _unknown(self, method: str, payload: bytes, msg_id: int, reason: str) -> list[Event]:
        if reason == "decode_error":
            self.stats.bad += 1
        common = common_of(payload)
        env = self._env_from_common(common, msg_id)
        if not msg_id and reason == "unhandled" and self._dedupe.seen(env["msg_id"]):
            self.stats.duplicates += 1
            return []
        self.stats.unknown += 1
        return [UnknownEvent(**env, method=method, size=len(payload), reason=reason)]
