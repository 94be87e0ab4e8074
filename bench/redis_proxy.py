"""A counting TCP proxy in front of redis-server: round trips and bytes, as the wire sees them.

Counting on the wire is exact whatever the client does (pipelines, scripts, reconnects, health
checks): a round trip is a burst of bytes from the client that follows the server's last answer
on that connection (or opens it), so a pipeline of many commands is one round trip, and a
blocking read is one too.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from types import TracebackType
from typing import Self


@dataclass(slots=True)
class Counts:
    round_trips: int = 0
    sent: int = 0  # bytes, client to server
    received: int = 0  # bytes, server to client

    @property
    def moved(self) -> int:
        return self.sent + self.received


class RedisProxy:
    def __init__(self, upstream_port: int) -> None:
        self._upstream = upstream_port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.counts = Counts()
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def reset(self) -> Counts:
        """The counts so far; counting starts again from zero."""
        counts, self.counts = self.counts, Counts()
        return counts

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self._upstream)
        answered = [True]  # the server spoke last (or nobody has yet): the next send is a trip

        async def pump(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool
        ) -> None:
            while data := await reader.read(65536):
                if up:
                    self.counts.sent += len(data)
                    if answered[0]:
                        self.counts.round_trips += 1
                        answered[0] = False
                else:
                    self.counts.received += len(data)
                    answered[0] = True
                writer.write(data)
                await writer.drain()
            writer.close()

        with contextlib.suppress(ConnectionError):
            await asyncio.gather(pump(client_r, server_w, True), pump(server_r, client_w, False))

    async def start(self) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            try:
                await self._serve(reader, writer)
            finally:
                self._tasks.discard(task)

        self._server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
