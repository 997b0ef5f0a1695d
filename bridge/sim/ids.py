"""Id and token factories shaped like TikTok's.

Every numeric id is above 2^53 on purpose (as TikTok's are): a client that squeezes them
through a float or a JavaScript number corrupts them, and the tests notice.
"""

from __future__ import annotations

import itertools
import secrets
import time
import zlib

_EPOCH_2023_MS = 1_672_531_200_000

# Counters start at a random point so two simulator runs never produce the same ids.
_msg_ids = itertools.count(7_400_000_000_000_000_000 + secrets.randbelow(10**15))
_log_ids = itertools.count(7_450_000_000_000_000_000 + secrets.randbelow(10**15))
_group_ids = itertools.count(1_700_000_000_000 + secrets.randbelow(10**9))


def now_ms() -> int:
    return int(time.time() * 1000)


def new_msg_id() -> int:
    return next(_msg_ids)


def new_log_id() -> int:
    return next(_log_ids)


def new_group_id() -> int:
    """Gift streak id (TikTok's are ms timestamps-ish, well below 2^63)."""
    return next(_group_ids)


def new_room_id() -> int:
    """19 digits starting with 73/74, like current TikTok room ids (~7.3e18)."""
    return 7_300_000_000_000_000_000 + secrets.randbelow(10**17)


def user_id_for(unique_id: str) -> int:
    """Stable 19-digit user id for a handle, so the same viewer keeps the same id."""
    digest = zlib.crc32(unique_id.encode("utf-8")) * 2_654_435_761 % 10**15
    return 6_800_000_000_000_000_000 + digest * 1000 + len(unique_id)


def new_ttwid() -> str:
    # Real ttwid: "1|<43 url-safe chars>|<unix ts>|<64 hex>", percent-encoded in the cookie.
    ts = int(time.time())
    return f"1%7C{secrets.token_urlsafe(32)}%7C{ts}%7C{secrets.token_hex(32)}"


def new_token(nbytes: int = 16) -> str:
    return secrets.token_urlsafe(nbytes)


def new_cursor() -> str:
    ms = now_ms()
    return f"t-{ms}_r-1_d-1_u-1_fh-{new_msg_id()}"


def new_internal_ext(room_id: int) -> str:
    """Opaque per-batch token the client must echo in its ack (unique per frame)."""
    ms = now_ms()
    return (
        f"internal_src:dim|wss_push_room_id:{room_id}|wss_push_did:{ms - _EPOCH_2023_MS}"
        f"|first_req_ms:{ms}|fetch_time:{ms}|seq:{new_log_id()}|wss_info:0-{ms}-0-0"
    )
