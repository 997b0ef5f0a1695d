"""TikTokSimulator: every TikTok endpoint on one loopback port (see bridge/sim/__init__.py)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from types import TracebackType

from bridge.settings.tiktok import Endpoints
from bridge.sim import ids
from bridge.sim.config import Faults, SimConfig
from bridge.sim.http_api import HttpApi
from bridge.sim.httpd import MAX_HEAD, BadRequest, HttpResponse, read_request, wants_keep_alive
from bridge.sim.push import WS_PATHS, check_handshake, is_push_path, serve_websocket
from bridge.sim.records import ConnectionRecord, RequestRecord, Stats
from bridge.sim.rooms import SimRoom, make_room
from bridge.sim.scenario import Scenario, play

log = logging.getLogger(__name__)


class TikTokSimulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        config: SimConfig | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.config = config or SimConfig()
        self.faults = Faults()
        self.stats = Stats()
        self.rooms: dict[str, SimRoom] = {}  # by lower-cased unique_id
        self.ttwids: set[str] = set()
        self._api = HttpApi(self)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._conn_ids = itertools.count(1)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._server is not None:
            return
        # The reader's limit bounds a request head (readuntil raises beyond it).
        self._server = await asyncio.start_server(
            self._on_client, self.host, self.port, reuse_address=True, limit=MAX_HEAD
        )
        # Keep the port across restart(): clients reconnect to the same endpoints.
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("TikTok simulator listening on %s", self.base_url)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()
        for room in self.rooms.values():
            room.connections.clear()
            room.changed.notify()

    async def restart(self) -> None:
        """Stop (dropping every connection) and listen again on the same port."""
        await self.stop()
        await self.start()

    async def __aenter__(self) -> TikTokSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # ------------------------------------------------------------ addresses

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def endpoints(self) -> Endpoints:
        http = self.base_url
        return Endpoints(
            www=http, webcast=http, websocket=f"ws://{self.host}:{self.port}", sign_server=http
        )

    def endpoints_yaml(self) -> str:
        """``tiktok.endpoints`` as a one-line YAML mapping, for generated configurations."""
        ep = self.endpoints
        return (
            f'{{www: "{ep.www}", webcast: "{ep.webcast}", websocket: "{ep.websocket}", '
            f'sign_server: "{ep.sign_server}"}}'
        )

    def config_yaml(self) -> str:
        """The configuration snippet that points a bridge at this simulator."""
        ep = self.endpoints
        return (
            "tiktok:\n"
            "  endpoints:\n"
            f"    www: {ep.www}\n"
            f"    webcast: {ep.webcast}\n"
            f"    websocket: {ep.websocket}\n"
            f"    sign_server: {ep.sign_server}\n"
        )

    @property
    def push_server(self) -> str:
        return f"ws://{self.host}:{self.port}{WS_PATHS[0]}"

    # ------------------------------------------------------------ state API

    def add_user(
        self,
        unique_id: str,
        *,
        live: bool = False,
        room_id: int | None = None,
        age_restricted: bool = False,
        user_id: int | None = None,
    ) -> SimRoom:
        """A TikTok account. ``room_id`` without ``live`` = a past stream (status 4)."""
        room = make_room(
            unique_id.lstrip("@"),
            live=live,
            room_id=room_id,
            age_restricted=age_restricted,
            user_id=user_id,
            history_limit=self.config.history_limit,
        )
        self.rooms[room.unique_id.lower()] = room
        return room

    def remove_user(self, unique_id: str) -> None:
        room = self.rooms.pop(unique_id.lstrip("@").lower(), None)
        if room is not None:
            room.drop_connections()

    def room_by_user(self, unique_id: str) -> SimRoom | None:
        return self.rooms.get(unique_id.lstrip("@").lower())

    def room_by_id(self, room_id: int) -> SimRoom | None:
        return next((r for r in self.rooms.values() if r.room_id == room_id), None)

    def room(self, unique_id: str) -> SimRoom:
        room = self.room_by_user(unique_id)
        if room is None:
            raise KeyError(unique_id)
        return room

    def mint_ttwid(self) -> str:
        value = ids.new_ttwid()
        self.ttwids.add(value)
        return value

    def ttwid_known(self, value: str) -> bool:
        return value in self.ttwids

    def next_conn_id(self) -> int:
        return next(self._conn_ids)

    # ------------------------------------------------------------ faults

    def rate_limit(self, seconds: float) -> None:
        """429 + RateLimit-Reset on the sign server and api-live for ``seconds``."""
        self.faults.rate_limited_until = time.time() + seconds

    def block_device(self, ttwid: str | None = None) -> None:
        """415 DEVICE_BLOCKED for one ttwid, or for every socket when None."""
        if ttwid is None:
            self.faults.block_device = True
        else:
            self.faults.blocked_ttwids.add(ttwid)

    def handshake_status(self, status: int | None) -> None:
        """Answer socket upgrades with 400 or 200 (instead of 101); None restores."""
        self.faults.handshake_status = status

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------ records

    @property
    def connections(self) -> list[ConnectionRecord]:
        return [rec for room in self.rooms.values() for rec in room.records]

    @property
    def acks(self) -> list[tuple[int, str]]:
        return [(a.log_id, a.internal_ext) for r in self.connections for a in r.acks]

    async def play(self, scenario: Scenario, *, speed: float = 1.0) -> None:
        await play(self, scenario, speed=speed)

    # ------------------------------------------------------------ serving

    def _log_request(self, method: str, path: str, status: int) -> None:
        self.stats.requests.append(RequestRecord(time.time(), method, path, status))

    def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        self._writers.add(writer)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            self._writers.discard(writer)

        task.add_done_callback(done)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve_requests(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass  # the peer went away (reset, ENOTCONN on a half-open socket...): normal
        except BadRequest as exc:
            writer.write(HttpResponse(400, str(exc).encode()).serialize(keep_alive=False))
        except Exception:  # one broken connection must never take the simulator down
            log.exception("simulator connection failed")
        finally:
            writer.close()

    async def _serve_requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            request = await read_request(reader)
            if request is None:
                return
            if is_push_path(request.path):
                rejection = check_handshake(self, request)
                status = 101 if rejection is None else rejection.status
                self._log_request(request.method, request.path, status)
                if rejection is None:
                    await serve_websocket(self, request, reader, writer)
                    return
                self.stats.ws_rejected[rejection.status] += 1
                writer.write(rejection.serialize(keep_alive=False))
                await writer.drain()
                return
            response = self._api.handle(request)
            self._log_request(request.method, request.path, response.status)
            keep = wants_keep_alive(request)
            writer.write(response.serialize(keep_alive=keep))
            await writer.drain()
            if not keep:
                return
