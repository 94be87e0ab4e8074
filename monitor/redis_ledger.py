"""What a sink's deliveries have been through, in Redis: retries, dead letters, disabling.

Everything here lives under the sink's own hash tag (``{sink:<name>}``). Retry states are kept
by event id, so a restarted process resumes each delivery's schedule where it was; dead letters
are kept by event id too, so moving one there twice keeps one. A replayed dead letter goes into
the sink's replay stream, which the sink reads like an outbox.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from typing import Any

import redis.asyncio as aioredis

from monitor import redis_keys as keys
from monitor.store import DeadLetter, OutboxEntry, RetryState, SinkDisabled


class RedisLedger:
    """Redis errors pass through; ``RedisStore`` converts them, naming what failed."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def retry_states(
        self, sink: str, entries: Sequence[OutboxEntry]
    ) -> dict[str, RetryState]:
        if not entries:
            return {}
        ids = [entry.event_id for entry in entries]
        blobs: Any = await self._redis.hmget(keys.sink_retries(sink), ids)
        return {
            event_id: RetryState(**json.loads(blob))
            for event_id, blob in zip(ids, blobs, strict=True)
            if blob is not None
        }

    async def schedule_retry(
        self, sink: str, entries: Sequence[OutboxEntry], state: RetryState
    ) -> None:
        blob = json.dumps({"attempts": state.attempts, "due": state.due, "error": state.error})
        mapping: Any = {entry.event_id: blob for entry in entries}
        await self._redis.hset(keys.sink_retries(sink), mapping=mapping)

    async def bury(
        self, sink: str, entries: Sequence[OutboxEntry], reason: str, attempts: int
    ) -> None:
        """Write the dead letters and forget their retry state (the caller acknowledges)."""
        now = time.time()
        mapping: Any = {  # a microsecond apart: listed (and replayed) in their order
            entry.event_id: json.dumps(
                {
                    "entry": _entry_json(entry),
                    "reason": reason,
                    "attempts": attempts,
                    "at": now + i * 1e-6,
                }
            )
            for i, entry in enumerate(entries)
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.sink_dead(sink), mapping=mapping)
            pipe.hdel(keys.sink_retries(sink), *mapping)
            await pipe.execute()

    async def dead_letters(self, sink: str) -> list[DeadLetter]:
        stored: Any = await self._redis.hgetall(keys.sink_dead(sink))
        letters = []
        for blob in stored.values():
            data = json.loads(blob)
            entry = _entry_of(data["entry"])
            letters.append(DeadLetter(sink, entry, data["reason"], data["attempts"], data["at"]))
        return sorted(letters, key=lambda d: (d.dead_at, d.entry.event_id))

    async def count(self, sink: str) -> int:
        return int(await self._redis.hlen(keys.sink_dead(sink)))

    async def replay(self, sink: str, event_ids: Collection[str] | None) -> int:
        chosen = [
            dead
            for dead in await self.dead_letters(sink)
            if event_ids is None or dead.entry.event_id in event_ids
        ]
        if not chosen:
            return 0
        async with self._redis.pipeline(transaction=True) as pipe:
            for dead in chosen:
                fields: Any = _entry_json(dead.entry)
                pipe.xadd(keys.sink_replay(sink), fields)
            pipe.hdel(keys.sink_dead(sink), *(dead.entry.event_id for dead in chosen))
            await pipe.execute()
        return len(chosen)

    async def purge(self, sink: str) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hlen(keys.sink_dead(sink))
            pipe.delete(keys.sink_dead(sink))
            count, _ = await pipe.execute()
        return int(count)

    async def disabled(self, sink: str) -> SinkDisabled | None:
        blob: Any = await self._redis.get(keys.sink_disabled(sink))
        return None if blob is None else SinkDisabled(**json.loads(blob))

    async def disable(self, sink: str, why: SinkDisabled) -> None:
        blob = json.dumps({"reason": why.reason, "at": why.at, "fingerprint": why.fingerprint})
        await self._redis.set(keys.sink_disabled(sink), blob)

    async def enable(self, sink: str) -> None:
        await self._redis.delete(keys.sink_disabled(sink))


def _entry_json(entry: OutboxEntry) -> dict[str, str]:
    """The fields of an entry as a replay stream and a dead letter keep them."""
    return {
        "source": entry.source,
        "id": entry.event_id,
        "type": entry.type,
        "key": entry.key,
        "body": entry.body.decode(),
    }


def _entry_of(data: dict[str, str]) -> OutboxEntry:
    return OutboxEntry(
        "", data["source"], data["id"], data["type"], data["key"], data["body"].encode()
    )
