"""Secrets for the log redactor: every form a secret can take, and files that expose them.

A secret is seldom logged the way it was configured. A proxy password written
percent-encoded in `socks5://user:p%40ss@host` reaches the SOCKS handshake decoded, and
httpcore's debug trace prints it as a bytes repr (`auth=(b'user', b'p@ss')`); an HTTP
proxy sends `Proxy-Authorization: Basic base64(user:password)`. `secret_forms` lists the
variants so that SecretRedactor masks them all (bridge.service.logging); `url_secrets`
adds a proxy URL's Basic auth token; `secrets_in_text` finds likely secrets in a
configuration file that could not be loaded (a refused SIGHUP reload), so its error
messages are masked too; `exposed_secret_files` finds files with secrets that every user
can read.
"""

from __future__ import annotations

import base64
import logging
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bridge.service.logging import secret_forms

__all__ = ["basic_auth", "exposed_secret_files", "secrets_in_text", "url_secrets"]

log = logging.getLogger(__name__)

SECRETS_FILE = "secrets.yaml"  # beside the configuration file (`!secret name`)


def basic_auth(user: str, password: str) -> str:
    """The token of `Authorization: Basic …` / `Proxy-Authorization: Basic …`."""
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def url_secrets(url: str) -> list[str]:
    """A URL with credentials: itself, its password and the Basic auth token (a proxy
    URL's user name alone is not secret, but masking it in the token is)."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        user = password = None
    found = [url]
    if password:
        found.append(password)
        name = unquote(user or "")
        found += [basic_auth(name, unquote(password)), basic_auth(name, password)]
    userinfo = _USERINFO.search(url)
    if userinfo:  # also when urlsplit gave up (a '/' in the password, an invalid port)
        name, _, secret = userinfo.group(1).partition(":")
        found += [userinfo.group(1), secret]
        if secret:
            found += [basic_auth(unquote(name), unquote(secret)), basic_auth(name, secret)]
    return found


# `key: value` where the key names a secret; the value up to a comment or the line's end.
_SECRET_LINE = re.compile(
    r"""^\s*-?\s*["']?([A-Za-z0-9_.-]*(?:password|passwd|secret|token|api_key|apikey|"""
    r"""session_id|sessionid|proxy)[A-Za-z0-9_.-]*)["']?\s*:[ \t]*(.+?)[ \t]*(?:[ \t]#.*)?$""",
    re.IGNORECASE | re.MULTILINE,
)
_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^\s@]+)@")


def secrets_in_text(text: str) -> list[str]:
    """Likely secrets in the raw text of a configuration file (used when it cannot be
    loaded): values of keys that name a secret, credentials inside URLs. Masking a little
    too much in an error message is harmless; echoing a password is not."""
    found: list[str] = []
    for match in _SECRET_LINE.finditer(text):
        value = match.group(2).strip().strip("'\"")
        if value and not value.startswith(("!secret", "!credential", "${")):
            found.append(value)
    for line in text.splitlines():
        for match in _USERINFO.finditer(line):
            found += url_secrets(match.group(0))
    return [s for s in found if len(s) >= 3]  # never mask every "a" of the log


def exposed_secret_files(config_path: Path, secrets: Iterable[str]) -> Iterator[Path]:
    """Files holding secrets that every user on the machine can read (mode o+r, e.g.
    0644): the configuration file if a secret is written in it, and secrets.yaml."""
    raw = [s for s in secrets if s]
    candidates = [(config_path, True), (config_path.parent / SECRETS_FILE, False)]
    for path, needs_secret in candidates:
        try:
            mode = path.stat().st_mode
            if not mode & stat.S_IROTH:
                continue
            if needs_secret:
                text = path.read_text(encoding="utf-8", errors="replace")
                if not any(form in text for s in raw for form in secret_forms(s)):
                    continue
        except OSError:
            continue
        yield path
