"""The memory store's event history: a bounded deque in this process, with the contract of
``RedisHistory`` (cursors ``"<n>-0"`` that grow, bounds by count and by age, waiting reads)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Sequence

from monitor.core.models import Event
from monitor.store.values import HistoryBounds, HistoryEntry, cursor_key


class MemoryHistory:
    def __init__(self, bounds: HistoryBounds) -> None:
        self._bounds = bounds
        self._entries: deque[HistoryEntry] = deque()
        self._by_id: dict[str, HistoryEntry] = {}  # event id -> its newest entry
        self._numbers = itertools.count(1)
        self._arrived = asyncio.Condition()

    async def append(self, events: Sequence[Event]) -> None:
        if not events:
            return
        now = time.time()
        async with self._arrived:
            for event in events:
                cursor = f"{next(self._numbers)}-0"
                entry = HistoryEntry(
                    cursor, event.id, str(event.type), event.source, event.body(), now
                )
                self._entries.append(entry)
                self._by_id[event.id] = entry
                if len(self._entries) > self._bounds.max_events:
                    self._forget()
            self._drop_old(now)
            self._arrived.notify_all()

    def _drop_old(self, now: float) -> None:
        while self._entries and self._entries[0].at < now - self._bounds.max_age:
            self._forget()

    def _forget(self) -> None:
        """Drop the oldest entry (and its id, unless a newer entry has it)."""
        gone = self._entries.popleft()
        if self._by_id.get(gone.event_id) is gone:
            del self._by_id[gone.event_id]

    async def history_entry(self, event_id: str) -> HistoryEntry | None:
        self._drop_old(time.time())
        return self._by_id.get(event_id)

    async def history(self, limit: int, before: str | None = None) -> list[HistoryEntry]:
        self._drop_old(time.time())
        bound = None if before is None else cursor_key(before)
        found: list[HistoryEntry] = []
        for entry in reversed(self._entries):
            if len(found) >= limit:
                break
            if bound is None or cursor_key(entry.cursor) < bound:
                found.append(entry)
        return found

    async def history_after(self, cursor: str, count: int, wait: float) -> list[HistoryEntry]:
        bound = cursor_key(cursor)

        def newer() -> list[HistoryEntry]:
            """From the newest end back to the cursor: a reader that keeps up (every open
            stream, woken on each append) looks at the new entries only, not the whole history."""
            self._drop_old(time.time())
            found: list[HistoryEntry] = []
            for entry in reversed(self._entries):
                if cursor_key(entry.cursor) <= bound:
                    break
                found.append(entry)
            found.reverse()
            return found[:count]

        if (found := newer()) or wait <= 0:
            return found
        async with self._arrived:
            try:
                await asyncio.wait_for(self._arrived.wait_for(lambda: bool(newer())), wait)
            except TimeoutError:
                return []
        return newer()

    async def history_head(self) -> str:
        return self._entries[-1].cursor if self._entries else "0-0"
