"""Simulator behaviour knobs (SimConfig) and switchable faults (Faults)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

CompressHeader = Literal["always", "never", "alternate"]


@dataclass(slots=True)
class SimConfig:
    # The server closes a push socket when no `hb` frame arrived for this long. TikTok's
    # exact value is not published; peers heartbeat every 5-10 s, so 30 s is generous.
    heartbeat_timeout_s: float = 30.0
    # Announced in the Handshake-Options response header (docs/protocol.md §5.2).
    ping_interval_s: float = 10.0
    # Whether gzip'd msg frames carry the compress_type header: "never" leaves only the
    # gzip magic bytes, "alternate" flips per frame (both detections, docs/protocol.md §5.6).
    compress_header: CompressHeader = "always"
    # Set the ttwid cookie on only every Nth profile-page response (TikTok mints it on some
    # responses only; docs/protocol.md §4.3).
    ttwid_every: int = 1
    # How many recent chats the sign server's fetch result carries.
    fetch_history_count: int = 10
    # How many chats a room remembers for history replay.
    history_limit: int = 50
    # Set InnerMessage.is_history on replayed chats. Off by default: TikTok does not
    # reliably flag them, so clients must dedupe by msg_id.
    mark_history: bool = False
    # Sign server: calls per minute per API key (None: unlimited); anonymous callers
    # share one bucket.
    sign_limit_per_minute: int | None = None
    # Keys the sign server accepts (empty: any key; see Faults.require_api_key).
    api_keys: frozenset[str] = frozenset()
    # msg frames ask for acks (FetchResult.need_ack).
    need_ack: bool = True
    # Send `im_enter_room_resp` after a valid `im_enter_room`.
    enter_room_resp: bool = True

    def __post_init__(self) -> None:
        # A server never announces a heartbeat interval it would drop the socket for:
        # a client that obeys Handshake-Options must be able to stay connected.
        if self.ping_interval_s >= self.heartbeat_timeout_s:
            raise ValueError(
                f"ping_interval_s ({self.ping_interval_s}) must be shorter than "
                f"heartbeat_timeout_s ({self.heartbeat_timeout_s})"
            )


@dataclass(slots=True)
class Faults:
    """Switch on to make the simulator misbehave like TikTok / the sign server sometimes does."""

    rate_limited_until: float = 0.0  # unix time; 429 + RateLimit-Reset on sign server and api-live
    sign_server_down: bool = False  # 500 on every sign-server route
    sign_empty_body: bool = False  # 200 with an empty body ("are you being detected by TikTok?")
    sign_no_cookies: bool = False  # fetch result without X-Set-TT-Cookie
    block_device: bool = False  # every push socket: 415 + Handshake-Msg: DEVICE_BLOCKED
    blocked_ttwids: set[str] = field(default_factory=set)  # only these ttwids are blocked
    handshake_status: int | None = None  # 400 (rejected) or 200 (200 instead of 101)
    captcha: bool = False  # live page / api-live / profile answer with a challenge page
    require_api_key: bool = False  # sign server: 401 without a (valid) API key

    def rate_limited(self) -> bool:
        return time.time() < self.rate_limited_until

    def clear(self) -> None:
        fresh = Faults()
        for name in self.__slots__:
            setattr(self, name, getattr(fresh, name))
