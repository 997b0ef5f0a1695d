"""The engine wired to a real StreamerPublisher as the bridge wires it: typed events in,
like and viewer triggers read the publisher's state, and a viewers message is made into
JSON only when a rule fires (issue 13, point 4)."""

from __future__ import annotations

from typing import Any

from bridge.actions.engine import ActionEngine
from bridge.actions.match import StreamMark
from bridge.core.publish import StreamerPublisher
from bridge.events.model import LazyTuple, TopViewer, ViewersEvent
from bridge.mqtt.topics import Topics
from bridge.settings.streamer import StreamerSettings
from tests.actions.support import ROOM_ID, RecordingSink, like, settings, user

RULES = """
rules:
  - name: crowd
    trigger: {type: viewers, threshold: 100}
    actions: [{topic: home/crowd, payload: "{{ current }}"}]
  - name: every-100-likes
    trigger: {type: like, every: 100}
    actions: [{topic: home/likes, payload: "{{ milestone }}"}]
  - name: reach-1000-likes
    trigger: {type: like, threshold: 1000}
    actions: [{topic: home/likes, payload: "reached {{ milestone }}"}]
"""


class Bridge:
    """Publisher → engine, and the publisher's stream start/end → engine (core/app.py)."""

    def __init__(self, rules: str) -> None:
        self.sink = RecordingSink()
        self.engine = ActionEngine(settings(rules), self.sink, base_topic="tiktok")
        self.engine.start()
        self.publisher = StreamerPublisher(
            self.sink,
            Topics("tiktok").streamer("alice"),
            StreamerSettings(user="alice"),
            bridge_event=self._bridge_event,
            on_event=self.engine.handle,
        )

    def _bridge_event(self, kind: str, data: dict[str, Any]) -> None:
        if kind in ("stream_started", "stream_ended"):
            self.engine.handle("alice", StreamMark(kind, data))

    def texts(self, topic: str) -> list[str]:
        return [s.text for s in self.sink.on(topic)]


def viewers(current: int, built: list[int] | None = None) -> ViewersEvent:
    """A viewer count whose ranked users, like the builder's, are made on first use."""

    def make() -> tuple[TopViewer, ...]:
        if built is not None:
            built.append(current)
        return (TopViewer(user=user("Top"), score=9, rank=1),)

    return ViewersEvent(
        msg_id=current, room_id=ROOM_ID, create_time_ms=0, current=current,
        top_viewers=LazyTuple(make),
    )  # fmt: skip


async def test_viewer_counts_are_serialised_only_when_a_rule_fires() -> None:
    bridge = Bridge(RULES)
    bridge.publisher.stream_started(ROOM_ID, "t")
    built: list[int] = []
    bridge.publisher.publish_events([viewers(n, built) for n in (50, 80, 99, 120, 130, 90)])
    # Only the crossing (99 → 120) needed the event's JSON object (ranked viewers included).
    assert built == [120]
    assert bridge.texts("home/crowd") == ["120"]
    await bridge.engine.close()


async def test_viewer_triggers_start_from_the_published_count() -> None:
    """The stream's first count (room info) is the previous value, as on `<user>/viewers`:
    a bridge restart mid-stream does not fire a crossing the stream made before it."""
    bridge = Bridge(RULES)
    bridge.publisher.stream_started(ROOM_ID, "t", viewers=150)
    bridge.publisher.publish_events([viewers(n) for n in (160, 90, 101)])
    assert bridge.texts("home/crowd") == ["101"]  # 150 → 160 crosses nothing; 90 → 101 does
    assert bridge.engine.stats()["fired"] == 1
    await bridge.engine.close()


async def test_like_triggers_read_the_room_total_of_the_state() -> None:
    bridge = Bridge(RULES)
    # Joined mid-stream: the room's likes so far (room info) fire no old milestones.
    bridge.publisher.stream_started(ROOM_ID, "t", likes=950)
    bridge.publisher.publish_events([like(15, 990), like(15, 985), like(15, 1010)])
    # Without a room total the counts add up (state.add_likes), as the likes topic shows.
    bridge.publisher.publish_events([like(95, 0)])
    assert bridge.publisher.state.likes == 1105
    assert bridge.texts("home/likes") == ["1000", "reached 1000", "1100"]
    # A new stream: thresholds fire again, from the new stream's own total.
    bridge.publisher.stream_ended("ended")
    bridge.publisher.stream_started(ROOM_ID + 1, "t", likes=0)
    bridge.publisher.publish_events([like(15, 1000)])
    assert bridge.texts("home/likes")[3:] == ["1000", "reached 1000"]
    await bridge.engine.close()
