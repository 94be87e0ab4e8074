"""The embedded store: state and outbox in this process's memory, lost when it exits.

Right for ``demo``, tests and a single replica that may forget its state on restart. It keeps
the same contract as the Redis store, including version checks and redelivery of entries that
were read but never acknowledged.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Sequence

from monitor.diff import Outcome
from monitor.errors import StaleStateError
from monitor.models import SourceState
from monitor.store import Loaded, OutboxEntry


class MemoryStore:
    def __init__(self) -> None:
        self._states: dict[str, Loaded] = {}
        self._queued: dict[str, deque[OutboxEntry]] = {}
        self._unacked: dict[str, dict[str, OutboxEntry]] = {}
        self._replay: dict[str, deque[OutboxEntry]] = {}
        self._ids = itertools.count(1)
        self._arrived = asyncio.Condition()

    async def ping(self) -> None:
        return None

    async def load(self, source: str) -> Loaded:
        return self._states.get(source, Loaded(SourceState(), 0))

    async def commit(self, source: str, version: int, outcome: Outcome) -> int:
        current = self._states.get(source, Loaded(SourceState(), 0))
        if current.version != version:
            raise StaleStateError(f"source {source}: version {version} is not current")
        self._states[source] = Loaded(outcome.state, version + 1)
        if outcome.events:
            async with self._arrived:
                for event in outcome.events:
                    entry = OutboxEntry(
                        f"{next(self._ids)}-0",
                        source,
                        event.id,
                        event.type,
                        event.key,
                        event.body(),
                    )
                    for queue in self._queued.values():
                        queue.append(entry)
                self._arrived.notify_all()
        return version + 1

    async def open_outbox(self, sinks: Sequence[str], sources: Sequence[str]) -> None:
        for sink in sinks:
            self._queued.setdefault(sink, deque())
            self._replay[sink] = deque(self._unacked.setdefault(sink, {}).values())

    async def read(self, sink: str, count: int, wait: float) -> list[OutboxEntry]:
        replay = self._replay[sink]
        if replay:
            return [replay.popleft() for _ in range(min(count, len(replay)))]
        queue = self._queued[sink]
        if not queue:
            async with self._arrived:
                try:
                    await asyncio.wait_for(self._arrived.wait_for(lambda: bool(queue)), wait)
                except TimeoutError:
                    return []
        taken = [queue.popleft() for _ in range(min(count, len(queue)))]
        self._unacked[sink].update((entry.entry_id, entry) for entry in taken)
        return taken

    async def ack(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        for entry in entries:
            self._unacked[sink].pop(entry.entry_id, None)

    async def keep(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        return None  # one process: nobody else could take them

    async def backlog(self, sink: str) -> int:
        return len(self._queued.get(sink, ())) + len(self._unacked.get(sink, {}))

    async def trim(self) -> int:
        return 0  # acknowledged entries are dropped at once

    async def close(self) -> None:
        return None
