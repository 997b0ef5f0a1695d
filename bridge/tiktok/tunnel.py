"""The push socket's way through the configured proxy.

websockets has its own proxy support, but before 16.0 it did not percent-decode the
credentials of a proxy URL (`socks5://user:p%40ss@host`), so a password with `@`, `:` or `/`
could not authenticate. For SOCKS and plain-HTTP proxies the tunnel is therefore opened with
python-socks, which decodes them in every version we allow (SOCKS5 with names resolved by the
proxy, HTTP CONNECT) and hands back a connected socket that websockets then runs TLS and the
WebSocket handshake over. An https:// proxy (TLS to the proxy itself) is left to websockets.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from python_socks.async_.asyncio import Proxy

__all__ = ["route"]

# Our scheme -> python-socks' name for it (socks5h: the proxy resolves names, as socks5 does).
_TUNNELLED = {"socks5": "socks5", "socks5h": "socks5", "http": "http"}


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "wss" else 80)


async def _tunnel(proxy_url: str, ws_url: str, timeout_s: float) -> socket.socket:
    parts = urlsplit(proxy_url)
    proxy = Proxy.from_url(urlunsplit(parts._replace(scheme=_TUNNELLED[parts.scheme.lower()])))
    host, port = _host_port(ws_url)
    sock: socket.socket = await proxy.connect(host, port, timeout=timeout_s)
    return sock


async def route(proxy_url: str | None, ws_url: str, timeout_s: float) -> dict[str, Any]:
    """Keyword arguments for websockets' connect(): no proxy at all (never the environment's,
    which its default would use), a tunnelled socket, or websockets' own https proxy.
    Raises on failure; callers never repeat the message, which could hold the proxy URL."""
    if not proxy_url:
        return {"proxy": None}
    if urlsplit(proxy_url).scheme.lower() not in _TUNNELLED:
        return {"proxy": proxy_url}
    return {"sock": await _tunnel(proxy_url, ws_url, timeout_s)}
