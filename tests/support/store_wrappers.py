"""A store that passes everything to a real one: the base of the test doubles that inject
faults into one method and leave the rest real."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from monitor.core.diff import Outcome
from monitor.store.roles import Store
from monitor.store.values import (
    DeadLetter,
    Fence,
    Loaded,
    Membership,
    OutboxEntry,
    RetryState,
    SinkDisabled,
)


class PassThroughStore:
    def __init__(self, inner: Store) -> None:
        self.inner = inner

    async def ping(self) -> None:
        await self.inner.ping()

    async def load(self, source: str) -> Loaded:
        return await self.inner.load(source)

    async def baseline_at(self, source: str, now: datetime) -> datetime:
        return await self.inner.baseline_at(source, now)

    async def directory(self, source: str) -> bytes | None:
        return await self.inner.directory(source)

    async def save_directory(self, source: str, directory: bytes) -> None:
        await self.inner.save_directory(source, directory)

    async def context_marks(self, source: str) -> dict[str, str]:
        return await self.inner.context_marks(source)

    async def mark_contexts(self, source: str, marks: Mapping[str, str]) -> None:
        await self.inner.mark_contexts(source, marks)

    async def commit(
        self, source: str, version: int, outcome: Outcome, fence: Fence | None = None
    ) -> int:
        return await self.inner.commit(source, version, outcome, fence)

    async def open_outbox(self, sinks: Sequence[str], sources: Sequence[str]) -> None:
        await self.inner.open_outbox(sinks, sources)

    async def read(self, sink: str, count: int, wait: float) -> list[OutboxEntry]:
        return await self.inner.read(sink, count, wait)

    async def ack(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        await self.inner.ack(sink, entries)

    async def keep(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        await self.inner.keep(sink, entries)

    async def backlog(self, sink: str) -> int:
        return await self.inner.backlog(sink)

    async def trim(self) -> int:
        return await self.inner.trim()

    async def retry_states(
        self, sink: str, entries: Sequence[OutboxEntry]
    ) -> dict[str, RetryState]:
        return await self.inner.retry_states(sink, entries)

    async def schedule_retry(
        self, sink: str, entries: Sequence[OutboxEntry], state: RetryState
    ) -> None:
        await self.inner.schedule_retry(sink, entries, state)

    async def dead_letter(
        self, sink: str, entries: Sequence[OutboxEntry], reason: str, attempts: int
    ) -> None:
        await self.inner.dead_letter(sink, entries, reason, attempts)

    async def dead_letters(self, sink: str) -> list[DeadLetter]:
        return await self.inner.dead_letters(sink)

    async def count_dead(self, sink: str) -> int:
        return await self.inner.count_dead(sink)

    async def replay_dead(self, sink: str, event_ids: Collection[str] | None = None) -> int:
        return await self.inner.replay_dead(sink, event_ids)

    async def purge_dead(self, sink: str) -> int:
        return await self.inner.purge_dead(sink)

    async def sink_disabled(self, sink: str) -> SinkDisabled | None:
        return await self.inner.sink_disabled(sink)

    async def disable_sink(self, sink: str, why: SinkDisabled) -> None:
        await self.inner.disable_sink(sink, why)

    async def enable_sink(self, sink: str) -> None:
        await self.inner.enable_sink(sink)

    async def adopt(self, sink: str) -> int:
        return await self.inner.adopt(sink)

    async def strays(self, sink: str) -> int:
        return await self.inner.strays(sink)

    async def heartbeat(self, replica: str, nonce: str, epoch: int, ttl: float) -> Membership:
        return await self.inner.heartbeat(replica, nonce, epoch, ttl)

    async def members(self) -> tuple[int, dict[str, int]]:
        return await self.inner.members()

    async def acquire(
        self, names: Sequence[str], holder: str, view: Membership, force: Collection[str] = ()
    ) -> dict[str, int]:
        return await self.inner.acquire(names, holder, view, force)

    async def release(self, names: Sequence[str], holder: str) -> None:
        await self.inner.release(names, holder)

    async def leave(self, holder: str) -> None:
        await self.inner.leave(holder)

    async def close(self) -> None:
        await self.inner.close()
