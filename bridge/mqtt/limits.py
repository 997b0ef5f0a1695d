"""Rate limit of incoming MQTT messages (commands): per topic, and for all topics together.

Anyone allowed to publish to a command topic could otherwise make the bridge spend its
time (and its outgoing buffers) on answers instead of TikTok events. A message over the
limit is dropped before it is parsed and counted; it gets no answer, since answering a
flood would only pass it on to the broker.

Token buckets: each topic may burst `burst` messages and then `rate_per_s`; all topics
together `total_burst` and `total_rate_per_s` (a flood spread over many request topics).
Memory is bounded: at most `max_topics` buckets; idle (full) ones are forgotten first.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bridge.ratelimit import TokenBucket

__all__ = ["TopicRateLimiter"]

# Defaults (docs/reliability.md, "Command floods"): far above what an automation sends,
# far below what costs the bridge its TikTok events on a Raspberry Pi.
RATE_PER_S = 10.0
BURST = 20
TOTAL_RATE_PER_S = 50.0
TOTAL_BURST = 100
MAX_TOPICS = 256


class TopicRateLimiter:
    def __init__(
        self,
        *,
        rate_per_s: float = RATE_PER_S,
        burst: int = BURST,
        total_rate_per_s: float = TOTAL_RATE_PER_S,
        total_burst: int = TOTAL_BURST,
        max_topics: int = MAX_TOPICS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval, self._burst = 1.0 / rate_per_s, burst
        self._max_topics = max_topics
        self._clock = clock
        self._total = TokenBucket(1.0 / total_rate_per_s, total_burst, clock=clock)
        self._topics: dict[str, TokenBucket] = {}

    def allow(self, topic: str) -> bool:
        """True if a message on `topic` may be handled now (and take its tokens)."""
        bucket = self._topics.get(topic) or self._new_bucket(topic)
        bucket.refill()
        self._total.refill()
        if bucket.tokens < 1.0 or self._total.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        self._total.tokens -= 1.0
        return True

    def _new_bucket(self, topic: str) -> TokenBucket:
        if len(self._topics) >= self._max_topics:
            # A full bucket is the same as a new one: forget those first, then the oldest.
            self._topics = {t: b for t, b in self._topics.items() if not b.full()}
            while len(self._topics) >= self._max_topics:
                del self._topics[next(iter(self._topics))]
        bucket = self._topics[topic] = TokenBucket(self._interval, self._burst, clock=self._clock)
        return bucket
