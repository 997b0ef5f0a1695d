"""Bounded de-duplication of messages by id.

The initial fetch, ``history_comment_count`` and every reconnect replay recent messages; a
replayed gift or follow must not fire an automation twice. Ids are 64-bit and unique per
message, so a bounded insertion-ordered set (oldest forgotten first) is enough: O(1) per check.
"""

from __future__ import annotations

from collections import OrderedDict


class Deduper:
    def __init__(self, size: int = 4096):
        if size < 1:
            raise ValueError("dedupe size must be >= 1")
        self.size = size
        self._seen: OrderedDict[int, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def seen(self, msg_id: int) -> bool:
        """True if ``msg_id`` was seen before, else remember it. Id 0 (absent) is never a dup."""
        if msg_id == 0:
            return False
        seen = self._seen
        if msg_id in seen:
            return True
        seen[msg_id] = None
        if len(seen) > self.size:
            seen.popitem(last=False)
        return False
