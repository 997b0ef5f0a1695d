"""Turning what a user typed (handle, @handle, profile or /live URL) into a TikTok unique id."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# TikTok handles are letters, digits, "_" and "."; "-" is tolerated for older accounts.
# Anything else would end up in URLs and MQTT topic levels, so it is refused, never rewritten.
_UNIQUE_ID = re.compile(r"[a-z0-9._-]{1,64}")


def normalise_unique_id(user: str) -> str:
    """Return the lower-case unique id of ``user``; raise ValueError when it cannot be one.

    Accepts ``name``, ``@name``, ``https://www.tiktok.com/@name`` and ``.../@name/live``
    (with or without scheme, query or fragment).
    """
    text = user.strip()
    if "/" in text:
        text = _handle_from_url(text)
    text = text.strip().removeprefix("@").strip().lower()
    if not _UNIQUE_ID.fullmatch(text):
        raise ValueError(f"not a TikTok username: {user!r}")
    return text


def _handle_from_url(text: str) -> str:
    # urlsplit only recognises the host when a scheme is present.
    if "://" not in text:
        text = "https://" + text.lstrip("/")
    for segment in urlsplit(text).path.split("/"):
        if segment.startswith("@"):
            return segment
    raise ValueError(f"no @username in URL: {text!r}")
