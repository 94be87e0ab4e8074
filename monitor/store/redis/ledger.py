"""What a sink's deliveries have been through, in Redis: retries, dead letters, disabling.

Everything here lives under the sink's own hash tag (``{sink:<name>}``). Retry states are kept
by event id, so a restarted process resumes each delivery's schedule where it was; dead letters
are kept by event id too, so moving one there twice keeps one. A replayed dead letter goes into
the sink's replay stream, which the sink reads like an outbox.

An acknowledgement or a dead letter deletes the entry's retry state, but a state can outlive
its entry: a replica that lost the sink's lease saves a failure after the new holder delivered
the entry, a crash falls between the acknowledgement and the deletion (in a Cluster they are
two nodes' commands), an outbox entry is trimmed while pending. Such states were kept forever
(the hash only grew). So each state names its entry (stream and id), and ``sweep`` deletes the
states whose entry is no longer pending for the sink, on the trim's beat, only for the sinks
that may have one (``unswept``): an idle store pays nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from typing import Any, Final

import redis.asyncio as aioredis

from monitor.store.redis import keys
from monitor.store.redis.scripts import FORGET_RETRIES
from monitor.store.values import DeadLetter, OutboxEntry, RetryState, SinkDisabled

# A state written before states named their entry (it has no ``ref``) is taken for a settled
# entry's once its attempt is this overdue (seconds): a delivery in progress makes its attempt
# when due and rewrites the state then, however long the schedule's waits. Should its sink have
# been stopped this long, the only cost is that its schedule starts over.
UNNAMED_STATE_TTL: Final = 2 * 86400.0
SWEEP_BATCH: Final = 500  # retry states read, and their entries looked up, per round trip


class RedisLedger:
    """Redis errors pass through; ``RedisStore`` converts them, naming what failed."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._forget_retries = client.register_script(FORGET_RETRIES)
        #: Sinks that may hold retry states of settled entries: every sink after opening (what
        #: the last run left), then those with a retry saved or an entry dropped since a sweep.
        self.unswept: set[str] = set()

    async def retry_states(
        self, sink: str, entries: Sequence[OutboxEntry]
    ) -> dict[str, RetryState]:
        if not entries:
            return {}
        ids = [entry.event_id for entry in entries]
        blobs: Any = await self._redis.hmget(keys.sink_retries(sink), ids)
        return {
            event_id: _retry_state(json.loads(blob))
            for event_id, blob in zip(ids, blobs, strict=True)
            if blob is not None
        }

    async def schedule_retry(
        self, sink: str, entries: Sequence[OutboxEntry], state: RetryState
    ) -> None:
        fields = {"attempts": state.attempts, "due": state.due, "error": state.error}
        mapping: Any = {
            entry.event_id: json.dumps({**fields, "ref": [_stream(entry), entry.entry_id]})
            for entry in entries
        }
        self.unswept.add(sink)  # a replica that lost the sink's lease may write after the ack
        await self._redis.hset(keys.sink_retries(sink), mapping=mapping)

    async def sweep(self, sink: str, now: float) -> int:
        """Delete the retry states of ``sink`` whose entry is no longer pending for it (it was
        acknowledged, dead-lettered or trimmed); returns how many. A state that changed since
        it was read is left (``FORGET_RETRIES``): it is a new attempt's."""
        forgotten, cursor = 0, 0
        while True:
            reply: Any = await self._redis.hscan(keys.sink_retries(sink), cursor, count=SWEEP_BATCH)
            cursor, states = int(reply[0]), reply[1]
            settled = await self._settled(sink, states, now)
            if settled:
                args = [part for event_id in settled for part in (event_id, states[event_id])]
                forgotten += int(await self._forget_retries([keys.sink_retries(sink)], args))
            if cursor == 0:
                return forgotten

    async def _settled(self, sink: str, states: dict[Any, Any], now: float) -> list[Any]:
        """The event ids among ``states`` whose entries are settled, by XPENDING of each one
        that names its entry, by age for the others."""
        settled, named = [], []
        for event_id, blob in states.items():
            try:
                data = json.loads(blob)
                stream, entry_id = data["ref"]
            except (KeyError, TypeError, ValueError):  # unnamed (older) or unreadable
                if _due(blob) < now - UNNAMED_STATE_TTL:
                    settled.append(event_id)
                continue
            named.append((event_id, stream, entry_id))
        if not named:
            return settled
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, stream, entry_id in named:
                pipe.xpending_range(stream, sink, entry_id, entry_id, 1)
            found: list[Any] = await pipe.execute(raise_on_error=False)
        for (event_id, _, _), pending in zip(named, found, strict=True):
            if isinstance(pending, Exception) and "NOGROUP" not in str(pending):
                raise pending
            if isinstance(pending, Exception) or not pending:  # NOGROUP: no stream or group
                settled.append(event_id)
        return settled

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

    async def purge(self, sink: str, event_ids: Collection[str] | None) -> int:
        if event_ids is not None:
            chosen = set(event_ids)
            return int(await self._redis.hdel(keys.sink_dead(sink), *chosen)) if chosen else 0
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


def _stream(entry: OutboxEntry) -> str:
    return entry.stream or keys.outbox(entry.source)


def _retry_state(data: dict[str, Any]) -> RetryState:
    return RetryState(int(data["attempts"]), float(data["due"]), str(data["error"]))


def _due(blob: bytes) -> float:
    """A stored state's due time; 0 (long past) for one that cannot be read."""
    try:
        return float(json.loads(blob)["due"])
    except (KeyError, TypeError, ValueError):
        return 0.0


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
