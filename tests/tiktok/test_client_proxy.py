"""The configured proxy carries every call: TikTok HTTP, the sign server and the socket.

A tiny loopback proxy (HTTP forward + CONNECT, and SOCKS5 with user/password) resolves
the made-up host ``tiktok.sim.invalid`` to the simulator. The client itself cannot
resolve that name, so a call that bypassed the proxy could not succeed at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest

from bridge.settings.tiktok import DEFAULT_USER_AGENT, Endpoints, TikTokSettings
from bridge.sim import messages
from bridge.sim.server import TikTokSimulator
from bridge.tiktok import frames
from bridge.tiktok.budget import CallBudget
from bridge.tiktok.client import TikTokClient
from bridge.tiktok.errors import TikTokError
from bridge.tiktok.pb import webcast_pb2 as pb

FAKE_HOST = "tiktok.sim.invalid"


class LoopbackProxy:
    """HTTP proxy (absolute-form forwarding and CONNECT) and SOCKS5, on one port.

    ``routes`` maps host names to real addresses. ``seen`` records (protocol, target).
    """

    def __init__(self, routes: dict[str, str], auth: tuple[str, str] | None = None) -> None:
        self.routes = routes
        self.auth = auth
        self.seen: list[tuple[str, str]] = []
        self.user_agents: dict[str, str] = {}  # forwarded path -> User-Agent header
        self.queries: dict[str, str] = {}  # forwarded path -> raw query
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> LoopbackProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await reader.readexactly(1)
            if first == b"\x05":
                await self._socks5(reader, writer)
            else:
                await self._http(first, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _resolve(self, host: str) -> str:
        return self.routes.get(host, host)

    async def _http(
        self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = first + await reader.readuntil(b"\r\n\r\n")
        request_line, _, rest = head.partition(b"\r\n")
        method, target, version = request_line.decode().split(" ")
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            self.seen.append(("CONNECT", target))
            up_reader, up_writer = await asyncio.open_connection(self._resolve(host), int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await self._pipe(reader, writer, up_reader, up_writer)
            return
        url = urlsplit(target)
        self.seen.append((method, f"{url.hostname}:{url.port}{url.path}"))
        self.queries[url.path] = url.query
        for line in rest.split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "user-agent":
                self.user_agents[url.path] = value.strip()
        up_reader, up_writer = await asyncio.open_connection(
            self._resolve(url.hostname or ""), url.port or 80
        )
        origin_form = url.path + (f"?{url.query}" if url.query else "")
        # One request per upstream connection, so every request is seen (and recorded).
        headers = [
            line
            for line in rest.split(b"\r\n")
            if line and not line.lower().startswith((b"connection:", b"proxy-connection:"))
        ]
        up_writer.write(
            f"{method} {origin_form} {version}\r\n".encode()
            + b"\r\n".join([*headers, b"Connection: close"])
            + b"\r\n\r\n"
        )
        await self._pipe(reader, writer, up_reader, up_writer)

    async def _socks5(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (count,) = await reader.readexactly(1)
        offered = await reader.readexactly(count)
        if self.auth is not None:
            if 2 not in offered:
                writer.write(b"\x05\xff")
                return
            writer.write(b"\x05\x02")
            await reader.readexactly(1)
            user = await reader.readexactly((await reader.readexactly(1))[0])
            password = await reader.readexactly((await reader.readexactly(1))[0])
            ok = (user.decode(), password.decode()) == self.auth
            writer.write(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                return
        else:
            writer.write(b"\x05\x00")
        _, command, _, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif atyp == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        self.seen.append(("SOCKS5", f"{host}:{port}"))
        if command != 1:
            writer.write(b"\x05\x07\x00\x01" + bytes(6))
            return
        up_reader, up_writer = await asyncio.open_connection(self._resolve(host), port)
        writer.write(b"\x05\x00\x00\x01" + bytes(6))
        await self._pipe(reader, writer, up_reader, up_writer)

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(ConnectionError, OSError):
                dst.close()

        try:
            await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        finally:
            up_writer.close()


@pytest.fixture
async def tt_sim() -> AsyncIterator[TikTokSimulator]:
    async with TikTokSimulator() as sim:
        yield sim


def hidden_endpoints(sim: TikTokSimulator) -> Endpoints:
    """The simulator's endpoints under a name only the proxy can resolve."""
    port = sim.port
    http = f"http://{FAKE_HOST}:{port}"
    return Endpoints(www=http, webcast=http, websocket=f"ws://{FAKE_HOST}:{port}", sign_server=http)


def make_client(sim: TikTokSimulator, mode: str, proxy: str | None) -> TikTokClient:
    settings = TikTokSettings(
        connection=mode,  # type: ignore[arg-type]
        endpoints=hidden_endpoints(sim),
        proxy=proxy,
        http_timeout_s=5.0,
        connect_timeout_s=5.0,
    )
    return TikTokClient(settings, budget=CallBudget(6000, burst=1000))


async def watch_one_chat(client: TikTokClient, sim: TikTokSimulator) -> str:
    """Resolve, open the push session, receive one chat: the whole client path."""
    room = sim.room("alice_live")
    status = await client.resolve("alice_live")
    assert status.live and status.room_id is not None and status.room_id == room.room_id
    async with client.open_push(status.room_id, user="alice_live") as session:
        await room.wait_entered()
        room.push(messages.chat("viewer1", "through the proxy"))
        async with asyncio.timeout(10):
            async for result in session:
                for method, inner in frames.iter_messages(result):
                    if method == "WebcastChatMessage":
                        return pb.ChatMessage.FromString(inner.payload).content
    raise AssertionError("session ended without a chat")


@pytest.mark.parametrize("mode", ["direct", "sign_server"])
async def test_http_connect_proxy_carries_http_sign_and_socket(
    tt_sim: TikTokSimulator, mode: str
) -> None:
    tt_sim.add_user("alice_live", live=True)
    async with LoopbackProxy({FAKE_HOST: "127.0.0.1"}) as proxy:
        client = make_client(tt_sim, mode, f"http://127.0.0.1:{proxy.port}")
        try:
            assert await watch_one_chat(client, tt_sim) == "through the proxy"
        finally:
            await client.aclose()
    paths = [target.partition("/")[2] for kind, target in proxy.seen if kind == "GET"]
    assert "@alice_live/live" in paths
    # One browser identity per attempt: the socket's UA is the one used to get its cookies.
    socket_ua = tt_sim.connections[0].header("User-Agent")
    assert socket_ua == DEFAULT_USER_AGENT
    if mode == "sign_server":
        assert "webcast/fetch" in paths
        assert parse_qs(proxy.queries["/webcast/fetch"])["user_agent"] == [socket_ua]
        # The socket goes to the push_server of the fetch result, through the proxy too.
        assert ("CONNECT", f"127.0.0.1:{tt_sim.port}") in proxy.seen
    else:
        assert "@alice_live" in paths  # ttwid minting
        assert proxy.user_agents["/@alice_live"] == socket_ua
        assert ("CONNECT", f"{FAKE_HOST}:{tt_sim.port}") in proxy.seen


@pytest.mark.parametrize("mode", ["direct", "sign_server"])
@pytest.mark.parametrize(
    ("password", "in_url"),
    [("pa55", "pa55"), ("p@ss:w/rd%", "p%40ss%3Aw%2Frd%25")],  # percent-encoded in the URL
)
async def test_socks5_proxy_with_credentials(
    tt_sim: TikTokSimulator, mode: str, password: str, in_url: str
) -> None:
    tt_sim.add_user("alice_live", live=True)
    async with LoopbackProxy({FAKE_HOST: "127.0.0.1"}, auth=("user", password)) as proxy:
        # socks5h: the proxy resolves names (the client could not).
        client = make_client(tt_sim, mode, f"socks5h://user:{in_url}@127.0.0.1:{proxy.port}")
        try:
            assert await watch_one_chat(client, tt_sim) == "through the proxy"
        finally:
            await client.aclose()
    targets = {target for kind, target in proxy.seen if kind == "SOCKS5"}
    assert f"{FAKE_HOST}:{tt_sim.port}" in targets
    if mode == "sign_server":
        assert f"127.0.0.1:{tt_sim.port}" in targets  # the push_server socket


async def test_without_proxy_the_hidden_host_is_unreachable(tt_sim: TikTokSimulator) -> None:
    """Control for the tests above: the made-up host really needs the proxy."""
    tt_sim.add_user("alice_live", live=True)
    client = make_client(tt_sim, "direct", None)
    try:
        with pytest.raises(TikTokError):
            await client.resolve("alice_live")
    finally:
        await client.aclose()


async def test_proxy_credentials_never_appear_in_errors(tt_sim: TikTokSimulator) -> None:
    tt_sim.add_user("alice_live", live=True)
    async with LoopbackProxy({FAKE_HOST: "127.0.0.1"}, auth=("user", "right")) as proxy:
        proxy_url = f"socks5h://user:wrong-secret@127.0.0.1:{proxy.port}"
        client = make_client(tt_sim, "direct", proxy_url)
        try:
            with pytest.raises(TikTokError) as error:
                await client.resolve("alice_live")
        finally:
            await client.aclose()
    assert "wrong-secret" not in str(error.value)
    assert error.value.__cause__ is None  # the transport error (with the URL) is not chained
    assert "wrong-secret" not in repr(client.settings)
