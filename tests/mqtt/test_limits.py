"""The per-topic / all-topics rate limit of incoming commands (injected clock)."""

from __future__ import annotations

from bridge.mqtt.limits import TopicRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate_per_topic() -> None:
    clock = Clock()
    limiter = TopicRateLimiter(rate_per_s=10, burst=20, total_burst=1000, clock=clock)
    assert sum(limiter.allow("a") for _ in range(50)) == 20
    assert limiter.allow("b")  # another topic has its own bucket
    clock.now += 1.0
    assert sum(limiter.allow("a") for _ in range(50)) == 10


def test_all_topics_together_are_limited_too() -> None:
    clock = Clock()
    limiter = TopicRateLimiter(burst=5, total_burst=30, total_rate_per_s=10, clock=clock)
    allowed = sum(limiter.allow(f"t{n % 100}") for n in range(1000))
    assert allowed == 30  # a flood spread over many topics
    clock.now += 2.0
    assert sum(limiter.allow(f"u{n}") for n in range(100)) == 20


def test_memory_stays_bounded_over_endless_topic_names() -> None:
    clock = Clock()
    limiter = TopicRateLimiter(max_topics=8, total_burst=10**9, clock=clock)
    for n in range(10_000):
        limiter.allow(f"tiktok/bridge/request/{n}")
        clock.now += 0.001
    assert len(limiter._topics) <= 8
