"""A loopback TCP forwarder between a client under test and a real broker, for faults a
broker cannot be asked to make: swallow what it sends back (a PUBACK lost when the
connection dies), hold it back (a slow CONNACK), cut every connection, refuse the port.

    proxy = await TcpProxy(broker.port).start()     # proxy.url → the broker
    proxy.swallow = True                             # broker → client bytes are dropped
    proxy.swallow_up = True                          # client → broker bytes are dropped
    proxy.delay_s = 0.3                              # broker → client bytes come late
    proxy.cut()                                      # every connection reset, port open
    await proxy.stop(); await proxy.start()          # port refuses, then accepts again
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(self, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.port = 0  # chosen at the first start, kept across restarts
        self.swallow = False  # drop everything the broker sends to the client
        self.swallow_up = False  # drop everything the client sends to the broker
        self.delay_s = 0.0  # hold each chunk from the broker this long
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Refuse the port and reset every connection (a broker that went away)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.cut()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> None:
        """Reset every open connection; new ones are still accepted."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            broker_r, broker_w = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        self._writers.update((client_w, broker_w))
        try:
            await asyncio.gather(
                self._pipe(client_r, broker_w, upstream=True),
                self._pipe(broker_r, client_w, upstream=False),
            )
        finally:
            for writer in (client_w, broker_w):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await reader.read(65536):
                if upstream and self.swallow_up:
                    continue
                if not upstream:
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
                    if self.swallow:
                        continue
                writer.write(chunk)
                await writer.drain()
        writer.transport.abort()  # one side gone: the other goes too (no half-open pair)
