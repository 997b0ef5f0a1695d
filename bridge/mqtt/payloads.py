"""The one way payloads become bytes: compact UTF-8 JSON (not ASCII escapes), text as UTF-8.

Emoji and non-Latin nicknames stay readable in MQTT Explorer and Node-RED, and payloads
are smaller than with ``\\uXXXX`` escapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

__all__ = ["PayloadLike", "encode_json", "to_bytes"]

# What set_state/publish_event accept: raw bytes, text, a scalar, or JSON-able containers.
PayloadLike: TypeAlias = bytes | bytearray | str | int | float | Mapping[str, Any] | Sequence[Any]


def encode_json(value: Any) -> bytes:
    """Compact JSON, UTF-8, no NaN/Infinity (not JSON; JavaScript consumers choke on them)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # A lone surrogate (a bug upstream) becomes "?" rather than losing the whole message.
    return text.encode("utf-8", errors="replace")


def to_bytes(payload: PayloadLike | None) -> bytes:
    """Bytes as is, text as UTF-8, None as empty, everything else (incl. bool) as JSON."""
    if payload is None:
        return b""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8", errors="replace")
    # Numbers and bools go through JSON too: True must read "true", not Python's "True".
    return encode_json(payload)
