"""A deliberately small HTTP/1.1 layer for the simulator.

Why not the websockets server's ``process_request``: its request parser refuses request
bodies, and the sign server's chat endpoint is a JSON POST. So the simulator reads requests
itself and hands WebSocket upgrades to the websockets sans-I/O protocol (see ``push.py``).
Supports keep-alive and Content-Length bodies; no chunked uploads (TikTok clients send none).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024


class BadRequest(Exception):
    """The bytes on the socket are not an HTTP/1.1 request we can serve."""


@dataclass(slots=True)
class HttpRequest:
    method: str
    target: str  # path + query exactly as sent
    headers: list[tuple[str, str]]
    body: bytes = b""
    raw_head: bytes = b""  # kept so a WebSocket upgrade can be replayed into websockets

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.target).query, keep_blank_values=True)

    @property
    def query(self) -> dict[str, str]:
        """First value of each parameter (TikTok's URLs repeat ``version_code``)."""
        out: dict[str, str] = {}
        for key, value in self.query_pairs:
            out.setdefault(key, value)
        return out

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    @property
    def cookies(self) -> dict[str, str]:
        return parse_cookie_header(self.header("Cookie") or "")

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "text/plain; charset=utf-8"

    def serialize(self, *, keep_alive: bool) -> bytes:
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        lines.append(f"Content-Type: {self.content_type}")
        lines.append(f"Content-Length: {len(self.body)}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        lines.extend(f"{k}: {v}" for k, v in self.headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> HttpResponse:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return HttpResponse(status, body, headers or [], "application/json; charset=utf-8")


def html_response(
    status: int, html: str, headers: list[tuple[str, str]] | None = None
) -> HttpResponse:
    return HttpResponse(status, html.encode("utf-8"), headers or [], "text/html; charset=utf-8")


def parse_cookie_header(value: str) -> dict[str, str]:
    """``a=1; b=2`` → dict. Tolerates the odd separators real clients produce (``k=v; k2=v2;``)."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(value)
    except Exception:  # http.cookies raises CookieError on odd input; fall back to splitting
        jar = SimpleCookie()
    parsed = {k: m.value for k, m in jar.items()}
    if parsed or not value.strip():
        return parsed
    out: dict[str, str] = {}
    for part in value.split(";"):
        name, sep, val = part.strip().partition("=")
        if sep and name:
            out[name] = val
    return out


async def read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    """Next request on a keep-alive connection; None when the client closed cleanly."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadRequest("truncated request head") from exc
    except asyncio.LimitOverrunError as exc:
        raise BadRequest("request head too large") from exc
    request = _parse_head(head)
    length = request.header("Content-Length")
    if request.header("Transfer-Encoding"):
        raise BadRequest("chunked request bodies are not supported")
    if length:
        size = int(length)
        if size < 0 or size > MAX_BODY:
            raise BadRequest("bad Content-Length")
        request.body = await reader.readexactly(size)
    return request


def _parse_head(head: bytes) -> HttpRequest:
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text.split("\r\n")
        method, target, version = request_line.split(" ", 2)
    except ValueError as exc:
        raise BadRequest("malformed request line") from exc
    if not version.startswith("HTTP/1."):
        raise BadRequest("only HTTP/1.x is spoken here")
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest("malformed header line")
        headers.append((name.strip(), value.strip()))
    return HttpRequest(method.upper(), target, headers, raw_head=head)


def wants_keep_alive(request: HttpRequest) -> bool:
    return (request.header("Connection") or "").lower() != "close"
