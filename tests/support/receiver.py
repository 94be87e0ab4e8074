"""A real webhook receiver on loopback that records every request and fails on demand."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int  # what we answered
    at: float  # time.monotonic()

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """Answers 200 unless told otherwise.

    ``fail_next`` answers the next N requests with ``fail_status`` (and ``retry_after`` when
    set); ``down`` answers every request with ``fail_status`` until cleared.
    """

    def __init__(self, *, path: str = "/hook") -> None:
        self.path = path
        self.requests: list[Received] = []
        self.fail_next = 0
        self.down = False
        self.fail_status = 503
        self.retry_after: str | None = None
        self.delay = 0.0
        self.arrived = 0  # requests that came in, answered or not yet (``delay``)
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def delivered(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.arrived += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        failing = self.down or self.fail_next > 0
        if self.fail_next > 0:
            self.fail_next -= 1
        status = self.fail_status if failing else 200
        headers = {"Retry-After": self.retry_after} if failing and self.retry_after else {}
        async with self._arrived:
            self.requests.append(
                Received(
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                    status,
                    time.monotonic(),
                )
            )
            self._arrived.notify_all()
        return web.Response(status=status, text="ok" if status == 200 else "no", headers=headers)

    async def wait_for(self, delivered: int, within: float = 10.0) -> list[Received]:
        """Wait until at least ``delivered`` requests were answered with a 2xx."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.delivered) >= delivered), within
            )
        return self.delivered

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
