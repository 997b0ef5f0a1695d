"""Cost per event: where the daemon's CPU goes, from a cProfile of an e2e run.

The profiler inflates Python-heavy code more than C code, so the breakdown is reported as
shares of the profiled busy time and scaled onto the *unprofiled* CPU µs per event of the
same rate. Buckets are the cumulative times of the pipeline's synchronous stages (no
double counting: each stage calls none of the others); what is left is the event loop,
the WebSocket library, acks/heartbeats and timers.
"""

from __future__ import annotations

import pstats
from dataclasses import dataclass
from pathlib import Path

# (bucket, file suffix, function name); cumulative times are summed per bucket.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("frame decode + gunzip (frames.py)", "bridge/tiktok/frames.py", "decode_frame"),
    ("frame decode + gunzip (frames.py)", "bridge/tiktok/frames.py", "decode_msg_frame"),
    ("protobuf → events (StreamProcessor)", "bridge/events/processor.py", "feed"),
    ("protobuf → events (StreamProcessor)", "bridge/events/processor.py", "tick"),
    ("event → dict (to_dict + streamer)", "bridge/core/publish.py", "event_payload"),
    ("JSON encoding", "bridge/mqtt/payloads.py", "encode_json"),
    ("sink enqueue (topic check, buffer)", "bridge/mqtt/sink.py", "publish_event"),
    ("MQTT publish (aiomqtt + paho)", "bridge/mqtt/sink.py", "_publish_next_event"),
    ("MQTT publish (aiomqtt + paho)", "paho/mqtt/client.py", "loop_write"),
)
IDLE = ("~", 0, "<method 'poll' of 'select.epoll' objects>")


@dataclass(frozen=True, slots=True)
class Breakdown:
    busy_s: float  # profiled CPU-ish time, epoll waits excluded
    buckets: dict[str, float]  # seconds (profiled)
    top: list[tuple[str, float]]  # heaviest functions by own time

    def shares(self) -> dict[str, float]:
        return {k: v / self.busy_s for k, v in self.buckets.items()} if self.busy_s else {}


def _stats_table(
    stats: pstats.Stats,
) -> dict[tuple[str, int, str], tuple[int, int, float, float, object]]:
    return stats.stats  # type: ignore[attr-defined,no-any-return]


def analyse(profile: Path) -> Breakdown:
    stats = pstats.Stats(str(profile))
    table = _stats_table(stats)
    total = sum(entry[2] for entry in table.values())
    idle = sum(entry[2] for key, entry in table.items() if "poll' of 'select" in key[2])
    buckets: dict[str, float] = {}
    for bucket, suffix, name in STAGES:
        for (file, _line, func), entry in table.items():
            if func == name and file.endswith(suffix):
                buckets[bucket] = buckets.get(bucket, 0.0) + entry[3]
    # encode_json is called inside publish_event: keep the two apart.
    enqueue = "sink enqueue (topic check, buffer)"
    if enqueue in buckets:
        buckets[enqueue] = max(0.0, buckets[enqueue] - buckets.get("JSON encoding", 0.0))
    busy = total - idle
    buckets["event loop, WebSocket, acks, timers (rest)"] = max(0.0, busy - sum(buckets.values()))
    own = sorted(
        ((f"{Path(k[0]).name}:{k[2]}", e[2]) for k, e in table.items() if "poll' of" not in k[2]),
        key=lambda item: item[1],
        reverse=True,
    )
    return Breakdown(busy, buckets, own[:12])
