"""Property: nothing a peer sends can raise out of the processor."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.events import UnknownEvent
from bridge.events.builders import BUILDERS
from tests.events._support import processor

METHODS = [*sorted(BUILDERS), "WebcastMysteryMessage", "RoomVerifyMessage"]


@settings(max_examples=400, deadline=None)
@given(method=st.sampled_from(METHODS), payload=st.binary(max_size=256), now=st.floats(0, 1e6))
def test_random_payload_never_raises(method: str, payload: bytes, now: float) -> None:
    proc = processor(gift_progress=True)
    events = proc.feed_message(method, payload, now) + proc.tick(now + 100) + proc.flush()
    for event in events:
        data = event.to_dict()  # serialisable whatever the input was
        assert data["type"] == event.topic
    s = proc.stats
    assert s.decoded + s.unknown + s.duplicates >= 1  # the message was accounted for
    if s.bad:
        assert any(isinstance(e, UnknownEvent) and e.reason == "decode_error" for e in events)


def test_truncated_payload_becomes_a_decode_error_unknown() -> None:
    proc = processor()
    (event,) = proc.feed_message("WebcastChatMessage", b"\x0a\x50\x08", 0.0)  # length past end
    assert isinstance(event, UnknownEvent)
    assert (event.reason, event.method, event.size) == ("decode_error", "WebcastChatMessage", 3)
    assert (proc.stats.bad, proc.stats.unknown) == (1, 1)


def test_prefixless_method_names_are_accepted() -> None:
    from tests.events._support import like_msg

    events = processor().feed_message("LikeMessage", like_msg(1, count=3, total=9), 0.0)
    assert [e.topic for e in events] == ["like"]
