"""``GET /api/v1/events/stream``: the events as Server-Sent Events, as they are committed.

Each event is ``id: <event id>``, ``event: <type>``, ``data: <the event as /api/v1/events shows
it, on one line>``. A client that reconnects with ``Last-Event-ID`` (the header EventSource
sends by itself, or ``?last_event_id=``) first gets what it missed from the history, then what
comes next; if the history no longer has that id it gets one ``event: reset`` (reload the
history) and then what comes next. Without it: what comes next only.

Every stream follows the store's shared history (``History.history_after``), so what any
replica commits reaches the streams of all of them. Each open stream is one waiting read at a
time (Redis: a blocking ``XREAD`` of up to ``BLOCK_SLICE``): ``MAX_STREAMS`` bounds them (more
clients get 503 with ``Retry-After``), well inside the Redis client's pool. An idle stream
gets a ``: ping`` comment every ``Timings.stream_heartbeat``. When the server stops, every
stream ends at once (``on_shutdown``): a stop never waits for clients to go away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Final

import structlog
from aiohttp import web

from monitor.core.errors import StoreError
from monitor.core.timings import PRODUCTION, Timings
from monitor.store.roles import History
from monitor.store.values import HistoryEntry
from monitor.web.events_api import envelope

log = structlog.get_logger("monitor.web")

MAX_STREAMS: Final = 64
RETRY_AFTER: Final = 10  # seconds a refused client waits before it tries again
READ_SLICE: Final = 5.0  # longest single wait for the store (a gone client is noticed by then)
#: A client that does not take an event within this long has stopped reading: it is dropped,
#: so a full socket never holds a slot, nor a stop, for long.
WRITE_TIMEOUT: Final = 10.0
#: How long a stop lets the streams end by themselves before it cuts those still writing.
CLOSE_GRACE: Final = 0.5
BATCH: Final = 100  # entries per read


class Streams:
    """This server's open streams: how many (for the limit), and the signal that ends them."""

    def __init__(self, timings: Timings = PRODUCTION, limit: int = MAX_STREAMS) -> None:
        self.timings = timings
        self.limit = limit
        self.open = 0
        self.closing = asyncio.Event()
        self.requests: dict[int, web.Request] = {}  # the open streams' (requests are unhashable)
        self.drained = asyncio.Event()  # set whenever the last open stream ends

    async def close(self, _app: web.Application) -> None:
        """``on_shutdown``: end every stream now. Each one ends cleanly as soon as it sees the
        signal; one stuck writing to a client that stopped reading has its connection cut
        after ``CLOSE_GRACE``."""
        self.closing.set()
        if self.requests:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained.wait(), CLOSE_GRACE)
        for request in list(self.requests.values()):
            transport = request.transport
            if transport is not None:
                transport.abort()


STREAMS: Final = web.AppKey("streams", Streams)


def frame(entry: HistoryEntry) -> bytes:
    data = json.dumps(envelope(entry), separators=(",", ":"), ensure_ascii=False)
    return f"id: {entry.event_id}\nevent: {entry.type}\ndata: {data}\n\n".encode()


def reset_frame(last: str) -> bytes:
    data = json.dumps({"last_event_id": last, "detail": "not in the history any more"})
    return f"event: reset\ndata: {data}\n\n".encode()


def unavailable(reason: str) -> web.Response:
    return web.json_response(
        {"error": reason}, status=503, headers={"Retry-After": str(RETRY_AFTER)}
    )


async def event_stream(request: web.Request, store: History) -> web.StreamResponse:
    streams = request.app[STREAMS]
    if streams.closing.is_set():
        return unavailable("the server is stopping")
    if streams.open >= streams.limit:
        return unavailable(f"too many event streams open (at most {streams.limit})")
    last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id") or None
    streams.open += 1  # counted before the first await: the limit holds under a burst
    try:
        try:
            cursor, reset = await _start(store, last)
        except StoreError as exc:
            return unavailable(f"the store is unavailable: {exc}")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: pass each event on at once
            }
        )
        await response.prepare(request)
        streams.requests[id(request)] = request
        streams.drained.clear()
        with contextlib.suppress(ConnectionError, TimeoutError):
            await _write(response, reset_frame(last) if reset and last else b": connected\n\n")
            await _follow(request, response, store, cursor, streams)
        return response
    finally:
        streams.open -= 1
        streams.requests.pop(id(request), None)
        if not streams.requests:
            streams.drained.set()


async def _write(response: web.StreamResponse, data: bytes) -> None:
    """Write, or give the client up (``TimeoutError``) when it has stopped reading."""
    async with asyncio.timeout(WRITE_TIMEOUT):
        await response.write(data)


async def _start(store: History, last: str | None) -> tuple[str, bool]:
    """Where the stream begins, and whether the client must reset (its id is gone)."""
    if last is not None:
        entry = await store.history_entry(last)
        if entry is not None:
            return entry.cursor, False
    return await store.history_head(), last is not None


async def _follow(
    request: web.Request,
    response: web.StreamResponse,
    store: History,
    cursor: str,
    streams: Streams,
) -> None:
    loop = asyncio.get_running_loop()
    heartbeat = streams.timings.stream_heartbeat
    ping_at = loop.time() + heartbeat
    while not streams.closing.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        wait = max(0.0, min(ping_at - loop.time(), READ_SLICE))
        entries = await _read(store, cursor, wait, streams.closing)
        if entries is None:
            return  # closing
        for entry in entries:
            await _write(response, frame(entry))
            cursor = entry.cursor
        if entries:
            ping_at = loop.time() + heartbeat
        elif loop.time() >= ping_at:
            await _write(response, b": ping\n\n")
            ping_at = loop.time() + heartbeat


async def _read(
    store: History, cursor: str, wait: float, closing: asyncio.Event
) -> list[HistoryEntry] | None:
    """The next entries, or None when the server stops first. A store that fails is asked
    again after a pause (the stream stays open, its pings go on)."""
    read: asyncio.Task[list[HistoryEntry]] = asyncio.ensure_future(
        store.history_after(cursor, BATCH, wait)
    )
    stop = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait([read, stop], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not read.done():
            read.cancel()
            with contextlib.suppress(asyncio.CancelledError, StoreError):
                await read
    if closing.is_set():
        return None
    try:
        return read.result()
    except StoreError as exc:
        log.debug("event_stream_read_failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), min(wait, 1.0) or 0.1)
        return []
