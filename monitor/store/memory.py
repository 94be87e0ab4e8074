"""The embedded store: state and outbox in this process's memory, lost when it exits.

Right for ``demo``, tests and a single replica that may forget its state on restart. It keeps
the same contract as the Redis store, including version checks and redelivery of entries that
were read but never acknowledged.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict, deque
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from monitor.core.diff import Outcome
from monitor.core.errors import FencedError, StaleStateError
from monitor.core.lease_name import LeaseName
from monitor.core.models import SourceState
from monitor.store.memory_history import MemoryHistory
from monitor.store.values import (
    DeadLetter,
    Fence,
    HistoryBounds,
    HistoryEntry,
    Loaded,
    Membership,
    OutboxEntry,
    RetryState,
    SinkDisabled,
    holder,
    member_parts,
)


class MemoryStore:
    def __init__(self, history: HistoryBounds | None = None) -> None:
        self._history = MemoryHistory(history or HistoryBounds())
        self._states: dict[str, Loaded] = {}
        self._queued: dict[str, deque[OutboxEntry]] = {}
        self._unacked: dict[str, dict[str, OutboxEntry]] = {}
        self._replay: dict[str, deque[OutboxEntry]] = {}
        self._ids = itertools.count(1)
        self._arrived = asyncio.Condition()
        self._retries: dict[str, dict[str, RetryState]] = defaultdict(dict)  # sink -> event id
        self._dead: dict[str, dict[str, DeadLetter]] = defaultdict(dict)  # sink -> event id
        self._disabled: dict[str, SinkDisabled] = {}
        # Leases in one process, as in Redis: name -> (holder, token); a holder is
        # "<replica>@<epoch>", live while ``_members`` has it (until the monotonic clock, in ms).
        self._leases: dict[str, tuple[str, int]] = {}
        self._fences: dict[str, int] = defaultdict(int)
        self._members: dict[str, int] = {}
        self._baselines: dict[str, datetime] = {}
        self._directories: dict[str, bytes] = {}
        self._marks: dict[str, dict[str, str]] = defaultdict(dict)

    async def ping(self) -> None:
        return None

    async def load(self, source: str) -> Loaded:
        return self._states.get(source, Loaded(SourceState(), 0))

    async def commit(
        self, source: str, version: int, outcome: Outcome, fence: Fence | None = None
    ) -> int:
        current = self._states.get(source, Loaded(SourceState(), 0))
        if current.version != version:
            raise StaleStateError(f"source {source}: version {version} is not current")
        lease = self._leases.get(LeaseName.source(source).key)
        if fence is not None and lease != (fence.replica, fence.token):
            raise FencedError(f"source {source}: fenced, not {fence.replica}'s lease")
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
            await self._history.append(outcome.events)
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
            self._retries[sink].pop(entry.event_id, None)

    async def keep(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        return None  # one process: nobody else could take them

    async def backlog(self, sink: str) -> int:
        return len(self._queued.get(sink, ())) + len(self._unacked.get(sink, {}))

    async def trim(self) -> int:
        """Acknowledged entries are dropped at once; retry states that outlived their entry
        (saved after it was settled) are forgotten here, as ``RedisStore.trim`` does."""
        for sink, states in self._retries.items():
            pending = {entry.event_id for entry in self._unacked.get(sink, {}).values()}
            for event_id in states.keys() - pending:
                del states[event_id]
        return 0

    async def retry_states(
        self, sink: str, entries: Sequence[OutboxEntry]
    ) -> dict[str, RetryState]:
        known = self._retries[sink]
        return {e.event_id: known[e.event_id] for e in entries if e.event_id in known}

    async def schedule_retry(
        self, sink: str, entries: Sequence[OutboxEntry], state: RetryState
    ) -> None:
        self._retries[sink].update((entry.event_id, state) for entry in entries)

    async def dead_letter(
        self, sink: str, entries: Sequence[OutboxEntry], reason: str, attempts: int
    ) -> None:
        now = time.time()
        for i, entry in enumerate(entries):  # a microsecond apart: listed in their order
            dead = DeadLetter(sink, entry, reason, attempts, now + i * 1e-6)
            self._dead[sink][entry.event_id] = dead
        await self.ack(sink, entries)

    async def dead_letters(self, sink: str) -> list[DeadLetter]:
        return sorted(self._dead[sink].values(), key=lambda d: d.dead_at)

    async def count_dead(self, sink: str) -> int:
        return len(self._dead[sink])

    async def replay_dead(self, sink: str, event_ids: Collection[str] | None = None) -> int:
        chosen = [
            d
            for d in await self.dead_letters(sink)
            if event_ids is None or d.entry.event_id in event_ids
        ]
        async with self._arrived:
            for dead in chosen:
                del self._dead[sink][dead.entry.event_id]
                self._queued.setdefault(sink, deque()).append(dead.entry)
            self._arrived.notify_all()
        return len(chosen)

    async def purge_dead(self, sink: str, event_ids: Collection[str] | None = None) -> int:
        dead = self._dead[sink]
        if event_ids is None:
            count = len(dead)
            dead.clear()
            return count
        return sum(dead.pop(i, None) is not None for i in set(event_ids))

    async def adopt(self, sink: str) -> int:
        self._replay[sink] = deque(self._unacked.get(sink, {}).values())
        return len(self._replay[sink])

    async def strays(self, sink: str) -> int:
        return 0  # one process, one consumer

    async def heartbeat(self, replica: str, nonce: str, epoch: int, ttl: float) -> Membership:
        """``store.redis.scripts.HEARTBEAT``, step for step."""
        now = _now_ms()
        me = holder(replica, epoch, nonce)
        renewing, replaced = False, False
        live: list[str] = []
        ours: list[str] = []
        gone = [member for member, until in self._members.items() if until <= now]
        for member in [member for member in self._members if member not in gone]:
            parts = member_parts(member)
            if member == me:
                renewing = True
            elif parts is not None and parts[0] == replica:
                ours.append(member)
                replaced |= parts[2] != nonce and 0 < epoch < parts[1]
            else:
                live.append(member)
        if replaced and not renewing:
            epoch = 0
            live += ours
        else:
            gone += ours
            if not renewing:
                epoch, me = now, holder(replica, now, nonce)
            self._members[me] = now + int(ttl * 1000)
            live.append(me)
        for member in gone:
            self._members.pop(member, None)
        return Membership(epoch, now, tuple(sorted(live)))

    async def acquire(
        self, names: Sequence[str], holder: str, view: Membership, force: Collection[str] = ()
    ) -> dict[str, int]:
        """``store.redis.scripts.ACQUIRE`` for each name."""
        tokens = {}
        for name in names:
            current = self._leases.get(name)
            if current is not None and current[0] != holder and name not in force:
                parts = member_parts(current[0])
                if parts is None or current[0] in view.live:
                    continue
                if view.now <= parts[1] <= _now_ms():
                    continue
            self._fences[name] += 1
            self._leases[name] = (holder, self._fences[name])
            tokens[name] = self._fences[name]
        return tokens

    async def leave(self, holder: str) -> None:
        self._members.pop(holder, None)

    async def members(self) -> tuple[int, dict[str, int]]:
        now = _now_ms()
        return now, {member: until for member, until in self._members.items() if until > now}

    async def release(self, names: Sequence[str], holder: str) -> None:
        for name in names:
            current = self._leases.get(name)
            if current is not None and current[0] == holder:
                del self._leases[name]

    async def sink_disabled(self, sink: str) -> SinkDisabled | None:
        return self._disabled.get(sink)

    async def disable_sink(self, sink: str, why: SinkDisabled) -> None:
        self._disabled[sink] = why

    async def enable_sink(self, sink: str) -> None:
        self._disabled.pop(sink, None)

    async def baseline_at(self, source: str, now: datetime) -> datetime:
        return self._baselines.setdefault(source, now)

    async def directory(self, source: str) -> bytes | None:
        return self._directories.get(source)

    async def save_directory(self, source: str, directory: bytes) -> None:
        self._directories[source] = directory

    async def context_marks(self, source: str) -> dict[str, str]:
        return dict(self._marks[source])

    async def mark_contexts(self, source: str, marks: Mapping[str, str]) -> None:
        kept = self._marks[source]
        for context, mark in marks.items():
            if mark:
                kept[context] = mark
            else:
                kept.pop(context, None)

    async def history(self, limit: int, before: str | None = None) -> list[HistoryEntry]:
        return await self._history.history(limit, before)

    async def history_after(self, cursor: str, count: int, wait: float) -> list[HistoryEntry]:
        return await self._history.history_after(cursor, count, wait)

    async def history_entry(self, event_id: str) -> HistoryEntry | None:
        return await self._history.history_entry(event_id)

    async def history_head(self) -> str:
        return await self._history.history_head()

    async def close(self) -> None:
        return None


def _now_ms() -> int:
    return int(time.monotonic() * 1000)
