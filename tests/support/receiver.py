"""The one webhook receiver of the tests: a real aiohttp server on loopback (HTTP, or HTTPS with
``tls``) that records every request and answers as a test programs it.

It stands in for every endpoint the monitor posts to: a plain webhook, Slack and Teams (their
checks are thin layers on top, ``chat_receivers.py``), a slow one, a redirect. Its knobs, in
the order they decide an answer:

- ``answer_with(status, body, headers)``: every request gets that answer until
  ``answer_with(None)``; ``then(...)`` queues answers for the next requests, one each;
- ``fail_next`` requests, or every request while ``down``, get ``fail_status`` (with
  ``Retry-After: retry_after`` when set);
- ``script[webhook-id]``: statuses answered to that event's requests in turn (the last one
  repeats); ``default`` answers everything else;
- ``per_second``: beyond that many delivered requests per rolling second, ``throttled``
  (while ``rate_limit`` is on);
- ``judge(payload, size)``: what a subclass checks in the body (a 2xx by default).

``delay`` holds each answer that long. A request is *delivered* when it was answered with a 2xx
by the receiver's own rules; ``answer_with`` and ``then`` play a broken endpoint, so what they
answer is never delivered, whatever the status (Slack answers some errors with a 200).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True)
class Answer:
    status: int
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int  # what we answered
    at: float  # time.monotonic()
    answer: str = ""  # the body we answered
    delivered: bool = False  # see the module's docstring

    @property
    def json(self) -> Any:
        """The parsed body; None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]


def _ok(status: int) -> bool:
    return 200 <= status < 300


class Receiver:
    """Answers 200 ``ok`` unless told otherwise (the knobs are in the module's docstring)."""

    per_second: int | None = None  # delivered requests per rolling second; None: no limit
    throttled = Answer(429)

    def __init__(self, *, path: str = "/hook", tls: ssl.SSLContext | None = None) -> None:
        self.path = path
        self.port = 0
        self.requests: list[Received] = []
        self.arrived = 0  # requests that came in, answered or not yet (``delay``)
        self.delay = 0.0
        self.fail_next = 0
        self.down = False
        self.fail_status = 503
        self.retry_after: str | None = None
        self.script: dict[str, list[int]] = {}
        self.default = 200
        self.rate_limit = True
        self._forced: Answer | None = None
        self._queued: list[Answer] = []
        self._tls = tls
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self.path}"

    @property
    def delivered(self) -> list[Received]:
        return [r for r in self.requests if r.delivered]

    def answer_with(
        self, status: int | None, body: str = "", headers: Mapping[str, str] | None = None
    ) -> None:
        """Answer every request with ``status``, ``body`` and ``headers``; ``None``: as usual."""
        self._forced = None if status is None else Answer(status, body, headers or {})

    def then(self, status: int, body: str = "", headers: Mapping[str, str] | None = None) -> None:
        """Answer the next request (one not under ``answer_with``) with these, once."""
        self._queued.append(Answer(status, body, headers or {}))

    def judge(self, payload: Any, size: int) -> Answer:
        """The answer to a body that passed every other rule (a subclass checks it here)."""
        return self._status_answer(self.default)

    def _status_answer(self, status: int) -> Answer:
        failing = not _ok(status)
        headers = {"Retry-After": self.retry_after} if failing and self.retry_after else {}
        return Answer(status, "no" if failing else "ok", headers)

    def _answer(self, event_id: str, payload: Any, size: int, now: float) -> tuple[Answer, bool]:
        """The answer, and whether the request counts as delivered."""
        if self._forced is not None:
            return self._forced, False
        if self._queued:
            return self._queued.pop(0), False
        if self.down or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            answer = self._status_answer(self.fail_status)
            return answer, _ok(answer.status)
        if statuses := self.script.get(event_id):
            status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            return self._status_answer(status), _ok(status)
        if self.per_second is not None and self.rate_limit:
            recent = [r for r in self.requests if r.delivered and now - r.at < 1.0]
            if len(recent) >= self.per_second:
                return self.throttled, False
        answer = self.judge(payload, size)
        return answer, _ok(answer.status)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.arrived += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        now = time.monotonic()
        answer, delivered = self._answer(headers.get("webhook-id", ""), payload, len(body), now)
        async with self._arrived:
            self.requests.append(
                Received(headers, body, answer.status, now, answer.body, delivered)
            )
            self._arrived.notify_all()
        return web.Response(status=answer.status, text=answer.body, headers=answer.headers)

    async def wait_for(self, delivered: int, within: float = 10.0) -> list[Received]:
        """Wait until at least ``delivered`` requests were delivered."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.delivered) >= delivered), within
            )
        return self.delivered

    def for_event(self, event_id: str) -> list[tuple[int, float]]:
        """(status, arrival) of every request that carried ``event_id``."""
        return [(r.status, r.at) for r in self.requests if r.headers.get("webhook-id") == event_id]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self._tls).start()
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
