"""Weighted rendezvous (highest random weight) hashing: which member owns which streamer.

Every member scores every streamer with ``-weight / ln(h)``, ``h`` a uniform hash of the
pair in (0, 1); the highest score wins. This is the logarithmic method of Schindelhauer and
Schomaker: a member's chance to win is exactly ``weight / total weight``, and when a member
joins or leaves only the streamers it wins or held move, about ``weight / total`` of them.
Pure functions of their inputs; every instance computes the same answer from the same
member list, with no coordination beyond agreeing on that list.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Iterable, Mapping

_SCALE = 2.0**64


def _unit_hash(member: str, key: str) -> float:
    """A stable (not Python's salted ``hash``) uniform value in the open interval (0, 1)."""
    digest = hashlib.blake2b(
        b"%s\x00%s" % (member.encode("utf-8"), key.encode("utf-8")), digest_size=8
    ).digest()
    return (int.from_bytes(digest, "big") + 0.5) / _SCALE


def score(member: str, weight: float, key: str) -> float:
    return -weight / math.log(_unit_hash(member, key))


def owner(key: str, members: Mapping[str, float]) -> str | None:
    """The member (name → weight) that owns ``key``; None when there is no member.
    Ties (practically impossible) go to the smaller name, so every instance agrees."""
    return _owner(key, sorted(members.items()))


def _owner(key: str, members: list[tuple[str, float]]) -> str | None:
    best: str | None = None
    best_score = -1.0
    for member, weight in members:
        value = score(member, weight, key)
        if value > best_score:
            best, best_score = member, value
    return best


def assign(keys: Iterable[str], members: Mapping[str, float]) -> dict[str, str]:
    """``key → owner`` for every key (empty when there is no member)."""
    ordered = sorted(members.items())
    return {key: owner_ for key in keys if (owner_ := _owner(key, ordered)) is not None}


# Hashes between two turns of the event loop in ``owned_share``: about 10 ms of work.
# Recomputing 10,000 streamers over 50 members in one go (500,000 hashes) held the loop
# for ~0.5 s, longer than a renewal may wait in a tight configuration.
CHUNK_HASHES = 10_000


async def owned_share(
    keys: Iterable[str], members: Mapping[str, float], member: str, *, chunk: int = CHUNK_HASHES
) -> set[str]:
    """The keys ``member`` owns, computed in chunks that give the event loop back between
    them (same answer as ``assign``)."""
    ordered = sorted(members.items())
    step = max(1, chunk // max(1, len(ordered)))
    pending = list(keys)
    mine: set[str] = set()
    for start in range(0, len(pending), step):
        mine.update(k for k in pending[start : start + step] if _owner(k, ordered) == member)
        if start + step < len(pending):
            await asyncio.sleep(0)
    return mine
