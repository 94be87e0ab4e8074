"""The durable store: state and outbox in Redis, shared by every replica.

Per source: a ``meta`` hash (version, baseline flag), a ``tracked`` hash, a ``tombstones`` hash
and an ``outbox`` stream, all under one hash tag (``keys``). ``commit`` is one Lua script
(``scripts.COMMIT``): version check, outbox append and state delta in one atomic step and
one round trip. The outbox side (consumer groups, replay, reclaim, trim) is ``RedisOutbox``; what
each sink's deliveries went through (retries, dead letters, disabling) is ``RedisLedger``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError, ResponseError

from monitor.config.redis_url import where
from monitor.core.diff import Outcome
from monitor.core.errors import FencedError, StaleStateError, StoreError
from monitor.core.lease_name import LeaseName
from monitor.core.models import SourceState
from monitor.core.secret import Secret
from monitor.core.timings import PRODUCTION, Timings
from monitor.store.redis import keys
from monitor.store.redis.client import connect
from monitor.store.redis.codec import commit_args, decode_tombstone, decode_tracked
from monitor.store.redis.history import RedisHistory
from monitor.store.redis.leases import RedisLeases
from monitor.store.redis.ledger import RedisLedger
from monitor.store.redis.outbox import RedisOutbox
from monitor.store.redis.scripts import COMMIT
from monitor.store.redis.watch import RedisWatch
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
)

T = TypeVar("T")

log = structlog.get_logger("monitor.store")


class RedisStore:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        consumer: str,
        where: str,
        timings: Timings = PRODUCTION,
        history: HistoryBounds | None = None,
    ) -> None:
        self._redis = client
        self._where = where  # the URL without credentials, for messages
        self._commit = client.register_script(COMMIT)
        self._warm = False
        self._consumer = consumer
        self._outbox = RedisOutbox(client, consumer, timings)
        self._ledger = RedisLedger(client)
        self._leases = RedisLeases(client)
        self._watch = RedisWatch(client)
        self._history = RedisHistory(client, history or HistoryBounds())

    @classmethod
    def from_url(
        cls,
        url: Secret,
        *,
        consumer: str,
        timings: Timings = PRODUCTION,
        history: HistoryBounds | None = None,
    ) -> RedisStore:
        return cls(
            connect(url),
            consumer=consumer,
            where=where(url.reveal()),
            timings=timings,
            history=history,
        )

    def _error(self, action: str, exc: RedisError) -> StoreError:
        return StoreError(f"redis {self._where}: {action} failed: {type(exc).__name__}: {exc}")

    async def _call(self, action: str, work: Awaitable[T]) -> T:
        """Run one Redis step, turning its errors into a ``StoreError`` that names it."""
        try:
            return await work
        except RedisError as exc:
            raise self._error(action, exc) from exc

    async def ping(self) -> None:
        await self._call("ping", self._redis.ping())

    async def load(self, source: str) -> Loaded:
        if not self._warm:  # the scripts a commit runs, loaded before the first one needs them
            await self._call("loading scripts", self._load_scripts())
            self._warm = True
        meta, tracked, tombs, outbox = await self._call(
            f"loading source {source}", self._fetch(source)
        )
        for part in (meta, tracked, tombs):
            if isinstance(part, Exception):
                raise StoreError(f"redis {self._where}: loading source {source} failed: {part}")
        # The outbox remembers its last id even when trimmed empty: events were committed here.
        known = isinstance(outbox, dict) and _decode(outbox.get("last-generated-id")) != "0-0"
        try:
            state = SourceState(
                baselined=meta.get(b"baselined") == b"1",
                tracked={int(k): decode_tracked(v) for k, v in tracked.items()},
                tombstones={int(k): decode_tombstone(v) for k, v in tombs.items()},
            )
            return Loaded(state, int(meta.get(b"version", 0)), known)
        except (KeyError, TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
            message = f"redis {self._where}: stored state of source {source} is corrupt"
            raise StoreError(f"{message}: {type(exc).__name__}") from exc

    async def _load_scripts(self) -> None:
        """Into Redis's script cache: without it, a changed poll's first commit and history
        append would each pay a NOSCRIPT round trip and a load (bench: round trips per changed
        poll, target <= 3)."""
        for script in (self._commit, self._history.script):
            await self._redis.script_load(script.script)

    async def _fetch(self, source: str) -> list[Any]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(keys.meta(source))
            pipe.hgetall(keys.tracked(source))
            pipe.hgetall(keys.tombstones(source))
            pipe.xinfo_stream(keys.outbox(source))
            result: list[Any] = await pipe.execute(raise_on_error=False)
            return result

    async def commit(
        self, source: str, version: int, outcome: Outcome, fence: Fence | None = None
    ) -> int:
        script_keys = [
            keys.meta(source),
            keys.tracked(source),
            keys.tombstones(source),
            keys.outbox(source),
            keys.lease(LeaseName.source(source).key),
            keys.fence(LeaseName.source(source).key),
        ]
        args = commit_args(version, outcome, self._outbox.sinks, fence)
        try:
            committed = int(await self._commit(script_keys, args))
        except ResponseError as exc:
            if str(exc).startswith("STALE fenced"):
                raise FencedError(f"source {source}: {exc}") from exc
            if str(exc).startswith("STALE"):
                raise StaleStateError(f"source {source}: {exc}") from exc
            raise self._error(f"committing source {source}", exc) from exc
        except RedisError as exc:
            raise self._error(f"committing source {source}", exc) from exc
        await self._record(source, outcome)
        return committed

    async def _record(self, source: str, outcome: Outcome) -> None:
        """Add the committed events to the history: after the commit, and never failing it
        (why: ``store.redis.history``)."""
        try:
            await self._history.append(outcome.events)
        except RedisError as exc:
            log.warning(
                "history_append_failed",
                source=source,
                events=len(outcome.events),
                error=str(self._error("recording the history", exc)),
            )

    async def history(self, limit: int, before: str | None = None) -> list[HistoryEntry]:
        return await self._call("reading the history", self._history.history(limit, before))

    async def history_after(self, cursor: str, count: int, wait: float) -> list[HistoryEntry]:
        return await self._call(
            "reading the history", self._history.history_after(cursor, count, wait)
        )

    async def history_entry(self, event_id: str) -> HistoryEntry | None:
        return await self._call("reading the history", self._history.entry(event_id))

    async def history_head(self) -> str:
        return await self._call("reading the history", self._history.history_head())

    async def open_outbox(self, sinks: Sequence[str], sources: Sequence[str]) -> None:
        await self._call("creating consumer groups", self._outbox.open(sinks, sources))
        self._ledger.unswept = set(sinks)  # retry states the last run may have left

    async def read(self, sink: str, count: int, wait: float) -> list[OutboxEntry]:
        return await self._call(
            f"reading the outbox of sink {sink}", self._outbox.read(sink, count, wait)
        )

    async def keep(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        await self._call(f"keeping entries of sink {sink}", self._outbox.keep(sink, entries))

    async def ack(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        await self._call(f"acknowledging for sink {sink}", self._outbox.ack(sink, entries))

    async def backlog(self, sink: str) -> int:
        return await self._call(f"measuring the backlog of {sink}", self._outbox.backlog(sink))

    async def trim(self) -> int:
        removed = await self._call("trimming the outbox", self._outbox.trim())
        await self._sweep_retries()
        return removed

    async def _sweep_retries(self) -> None:
        """Forget retry states of settled entries, for the sinks that may have some."""
        self._ledger.unswept |= self._outbox.dropped
        self._outbox.dropped.clear()
        now = time.time()
        for sink in sorted(self._ledger.unswept):
            self._ledger.unswept.discard(sink)
            try:
                forgotten = await self._ledger.sweep(sink, now)
            except RedisError as exc:
                self._ledger.unswept.add(sink)  # the next trim tries it again
                raise self._error(f"forgetting settled retry states of sink {sink}", exc) from exc
            if forgotten:
                log.info("retry_states_forgotten", sink=sink, count=forgotten)

    async def retry_states(
        self, sink: str, entries: Sequence[OutboxEntry]
    ) -> dict[str, RetryState]:
        return await self._call(
            f"reading retry states of sink {sink}", self._ledger.retry_states(sink, entries)
        )

    async def schedule_retry(
        self, sink: str, entries: Sequence[OutboxEntry], state: RetryState
    ) -> None:
        await self._call(
            f"scheduling a retry for sink {sink}", self._ledger.schedule_retry(sink, entries, state)
        )

    async def dead_letter(
        self, sink: str, entries: Sequence[OutboxEntry], reason: str, attempts: int
    ) -> None:
        action = f"dead-lettering for sink {sink}"
        await self._call(action, self._ledger.bury(sink, entries, reason, attempts))
        await self._call(action, self._outbox.ack(sink, entries))

    async def dead_letters(self, sink: str) -> list[DeadLetter]:
        return await self._call(f"reading dead letters of {sink}", self._ledger.dead_letters(sink))

    async def count_dead(self, sink: str) -> int:
        return await self._call(f"counting dead letters of {sink}", self._ledger.count(sink))

    async def replay_dead(self, sink: str, event_ids: Collection[str] | None = None) -> int:
        return await self._call(
            f"replaying dead letters of {sink}", self._ledger.replay(sink, event_ids)
        )

    async def purge_dead(self, sink: str, event_ids: Collection[str] | None = None) -> int:
        return await self._call(
            f"purging dead letters of {sink}", self._ledger.purge(sink, event_ids)
        )

    async def adopt(self, sink: str) -> int:
        return await self._call(f"adopting the entries of sink {sink}", self._outbox.adopt(sink))

    async def strays(self, sink: str) -> int:
        return await self._call(f"counting stray entries of sink {sink}", self._outbox.strays(sink))

    async def heartbeat(self, replica: str, nonce: str, epoch: int, ttl: float) -> Membership:
        return await self._call(
            "registering this replica", self._leases.heartbeat(replica, nonce, epoch, ttl)
        )

    async def acquire(
        self, names: Sequence[str], holder: str, view: Membership, force: Collection[str] = ()
    ) -> dict[str, int]:
        return await self._call("taking leases", self._leases.acquire(names, holder, view, force))

    async def release(self, names: Sequence[str], holder: str) -> None:
        if names:
            await self._call("handing leases back", self._leases.release(names, holder))

    async def leave(self, holder: str) -> None:
        await self._call("leaving the replicas", self._leases.leave(holder))

    async def members(self) -> tuple[int, dict[str, int]]:
        return await self._call("reading the replicas", self._leases.members())

    async def sink_disabled(self, sink: str) -> SinkDisabled | None:
        return await self._call(f"reading the state of sink {sink}", self._ledger.disabled(sink))

    async def disable_sink(self, sink: str, why: SinkDisabled) -> None:
        await self._call(f"disabling sink {sink}", self._ledger.disable(sink, why))

    async def enable_sink(self, sink: str) -> None:
        await self._call(f"enabling sink {sink}", self._ledger.enable(sink))

    async def baseline_at(self, source: str, now: datetime) -> datetime:
        return await self._call("baseline", self._watch.baseline_at(source, now))

    async def directory(self, source: str) -> bytes | None:
        return await self._call("read directory", self._watch.directory(source))

    async def save_directory(self, source: str, directory: bytes) -> None:
        await self._call("save directory", self._watch.save_directory(source, directory))

    async def context_marks(self, source: str) -> dict[str, str]:
        return await self._call("read context marks", self._watch.context_marks(source))

    async def mark_contexts(self, source: str, marks: Mapping[str, str]) -> None:
        await self._call("mark contexts", self._watch.mark_contexts(source, marks))

    async def close(self) -> None:
        await self._redis.aclose()


def _decode(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
