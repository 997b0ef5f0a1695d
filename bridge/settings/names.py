"""The one set of rules for names that become MQTT topic levels: streamers and topic prefixes.

A streamer's user name is the topic level `<base_topic>/<user>/...`, the TikTok unique id in
URLs and the key of its Home Assistant device, so the configuration file, streamer/add, the
topic builder and the TikTok client all use these functions.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

# Levels directly under the base topic that the bridge itself uses.
BRIDGE_LEVEL: Final = "bridge"  # <base>/bridge/state, info, health, request/...
ACTIONS_LEVEL: Final = "actions"  # <base>/actions/set and /state: the actions kill switch
RESERVED_USERS: Final = frozenset({BRIDGE_LEVEL, ACTIONS_LEVEL})

# TikTok handles are letters, digits, "_" and "."; "-" is tolerated for older accounts.
# Anything else would end up in URLs and MQTT topic levels, so it is refused, never rewritten.
USER_PATTERN: Final = r"[a-z0-9._-]{1,64}"
USER_DOC: Final = "1 to 64 characters: a-z 0-9 . _ - (it becomes an MQTT topic level)"
_USER = re.compile(USER_PATTERN)


def normalise_user(text: str) -> str:
    """What a user typed (`name`, `@Name`, a profile or /live URL) -> the lower-case handle.

    Does not validate: `user_problem` does. A URL without an `@name` segment stays as it is
    (and is then refused by the pattern).
    """
    text = text.strip()
    if "/" in text:
        text = _handle_from_url(text) or text
    return text.strip().removeprefix("@").strip().lower()


def _handle_from_url(text: str) -> str | None:
    # urlsplit only recognises the host when a scheme is present.
    if "://" not in text:
        text = "https://" + text.lstrip("/")
    try:
        segments = urlsplit(text).path.split("/")
    except ValueError:
        return None
    return next((s for s in segments if s.startswith("@")), None)


def user_problem(user: str) -> str | None:
    """Why a normalised user name cannot be a streamer, or None."""
    if not _USER.fullmatch(user):
        return f"is not valid: {USER_DOC}"
    if user in RESERVED_USERS:
        return f"{user!r} is reserved for the bridge's own topics (<base_topic>/{user}/...)"
    if not user.strip("."):
        return "must contain a letter or digit"
    return None


def is_user(user: str) -> bool:
    return user_problem(user) is None


def normalise_unique_id(user: str) -> str:
    """The handle of `user`; ValueError when it cannot be one (for the TikTok client)."""
    handle = normalise_user(user)
    problem = user_problem(handle)
    if problem is not None:
        raise ValueError(f"not a TikTok username ({problem})")
    return handle


def topic_prefix_problem(topic: str) -> str | None:
    """Why `topic` cannot be used as a topic prefix, or None (MQTT rules + our own)."""
    if any(c in topic for c in "+#\0"):
        return "must not contain MQTT wildcards (+, #) or NUL"
    if topic.startswith("$"):
        return "must not start with $ (reserved for broker topics such as $SYS)"
    if topic.startswith("/") or topic.endswith("/") or "//" in topic:
        return "must not have an empty level (no leading, trailing or double /)"
    if len(topic.encode()) > 1000:
        return "is too long"
    return None
