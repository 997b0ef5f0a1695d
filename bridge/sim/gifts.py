"""The simulator's gift catalogue.

SIMULATED data: names and diamond values follow TikTok's public gift panel, and Rose 5655 /
Lion 6369 match the reference fixtures, but the other ids and image URLs are plausible
stand-ins, not a copy of TikTok's catalogue. ``type`` 1 = streakable (combo) gift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SimGift:
    id: int
    name: str
    diamond_count: int
    type: int  # 1 = streakable; other values arrive once, without a repeat_end=1 final

    @property
    def image_url(self) -> str:
        slug = self.name.lower().replace(" ", "_")
        return (
            f"https://p16-webcast.tiktokcdn.com/img/maliva/webcast-va/sim_{slug}.png~tplv-obj.webp"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "diamond_count": self.diamond_count,
            "type": self.type,
            "combo": self.type == 1,
            "describe": f"sent {self.name}",
            "image": {"url_list": [self.image_url], "uri": f"webcast-va/sim_{self.id}"},
            "icon": {"url_list": [self.image_url]},
        }


GIFTS: tuple[SimGift, ...] = (
    SimGift(5655, "Rose", 1, 1),
    SimGift(5269, "TikTok", 1, 1),
    SimGift(6064, "GG", 1, 1),
    SimGift(5827, "Ice Cream Cone", 1, 1),
    SimGift(5487, "Finger Heart", 5, 1),
    SimGift(5658, "Perfume", 20, 1),
    SimGift(5879, "Doughnut", 30, 1),
    SimGift(5660, "Hand Hearts", 100, 1),
    SimGift(6671, "Love Bang", 25, 1),
    SimGift(7168, "Money Gun", 500, 2),
    SimGift(11046, "Galaxy", 1000, 2),
    SimGift(6369, "Lion", 29999, 2),
    SimGift(7934, "Universe", 34999, 2),
)

BY_ID: dict[int, SimGift] = {g.id: g for g in GIFTS}
BY_NAME: dict[str, SimGift] = {g.name.lower(): g for g in GIFTS}

LION = BY_ID[6369]


def lookup(gift: int | str | SimGift) -> SimGift:
    """A catalogue gift by id, name (case-insensitive) or itself; KeyError when unknown."""
    if isinstance(gift, SimGift):
        return gift
    if isinstance(gift, int):
        return BY_ID[gift]
    return BY_NAME[gift.lower()]
