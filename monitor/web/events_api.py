"""``GET /api/v1/events``: the recent events from the store's history, newest first.

Each event is the envelope exactly as delivered (``type``, ``timestamp``, ``data``) with the
stable event id (the ``webhook-id``) added as ``id``. Query: ``limit`` (default 100, at most
1000), ``since`` (an event id: only newer events; or an ISO 8601 time: only events detected
after it), ``type`` and ``source`` (each may repeat; any of the values matches). A bad value is
a 400 that names the parameter.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from monitor.store.roles import History
from monitor.store.values import HistoryEntry

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
PAGE: Final = 200  # entries read from the store per round trip while filtering


class BadRequestError(ValueError):
    """A request (a query parameter, a body) is not usable; the message names what."""


def bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def envelope(entry: HistoryEntry) -> dict[str, Any]:
    """The event as delivered, with its id: what the API and the stream show of an entry."""
    try:
        event: dict[str, Any] = json.loads(entry.body)
    except ValueError:
        event = {"type": entry.type, "timestamp": None, "data": None}
    return {"id": entry.event_id, **event}


@dataclass(frozen=True, slots=True)
class EventQuery:
    limit: int = DEFAULT_LIMIT
    since_id: str | None = None
    since_time: datetime | None = None
    types: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, query: Any) -> EventQuery:
        """From the request's query (a MultiDict); raises ``BadRequestError``."""
        limit = DEFAULT_LIMIT
        if (text := query.get("limit")) is not None:
            if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
                raise BadRequestError(f"limit: a whole number from 1 to {MAX_LIMIT}, not {text!r}")
            limit = int(text)
        since_id, since_time = None, None
        if (since := query.get("since")) is not None:
            if not since:
                raise BadRequestError("since: an event id or an ISO 8601 time, not empty")
            since_time = _time(since)
            since_id = since if since_time is None else None
        return cls(
            limit,
            since_id,
            since_time,
            _values(query, "type"),
            _values(query, "source"),
        )

    def matches(self, entry: HistoryEntry) -> bool:
        return (not self.types or entry.type in self.types) and (
            not self.sources or entry.source in self.sources
        )

    def newer(self, entry: HistoryEntry) -> bool:
        """Detected after ``since_time`` (when there is one)."""
        if self.since_time is None:
            return True
        detected = _time(str(envelope(entry).get("timestamp") or ""))
        return detected is None or detected > self.since_time


def _values(query: Any, name: str) -> frozenset[str]:
    values = frozenset(query.getall(name, ()))
    if "" in values:
        raise BadRequestError(f"{name}: empty")
    return values


def _time(text: str) -> datetime | None:
    """An ISO 8601 time (a naive one is UTC), or None when ``text`` is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


#: Seconds a replica's clock may run ahead of the store's, for ``since`` given as a time.
SKEW: Final = 60.0


async def newest_first(store: History) -> AsyncIterator[HistoryEntry]:
    """Every entry kept, newest first, a page at a time (the history is bounded)."""
    before: str | None = None
    while True:
        page = await store.history(PAGE, before)
        for entry in page:
            yield entry
        if len(page) < PAGE:
            return
        before = page[-1].cursor


async def select(store: History, query: EventQuery) -> tuple[list[HistoryEntry], bool]:
    """What the query asks for, newest first, and whether there is more; raises
    ``BadRequestError`` for a ``since`` event id the history does not have (any more).

    Without ``since``: the newest ``limit``. With it: the *oldest* ``limit`` after it (still
    newest first), and ``more`` when others follow, so a client that asks again with the newest
    id it got misses nothing. With a ``since`` time, the read stops at entries recorded more than
    ``SKEW`` before it (recording follows detection, but on another clock)."""
    if query.since_id is not None and await store.history_entry(query.since_id) is None:
        raise BadRequestError(
            f"since: no event {query.since_id!r} in the history (too old, or unknown)"
        )
    since = None if query.since_time is None else query.since_time.timestamp() - SKEW
    found: list[HistoryEntry] = []
    bounded = query.since_id is None and query.since_time is None
    async for entry in newest_first(store):
        if (bounded and len(found) >= query.limit) or entry.event_id == query.since_id:
            break
        if since is not None and entry.at <= since:
            break
        if query.matches(entry) and query.newer(entry):
            found.append(entry)
    if bounded:
        return found, False
    return found[-query.limit :], len(found) > query.limit
