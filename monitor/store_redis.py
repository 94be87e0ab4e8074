"""The durable store: state and outbox in Redis, shared by every replica.

Per source: a ``meta`` hash (version, baseline flag), a ``tracked`` hash, a ``tombstones`` hash
and an ``outbox`` stream, all under one hash tag (``redis_keys``). ``commit`` is one Lua script
(``redis_scripts.COMMIT``): version check, state delta and outbox append in one atomic step and one
round trip. Each sink is a consumer group on every outbox stream: an entry stays in the group's
pending list until the sink acknowledges it, and is read again after a crash.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import NoScriptError, RedisError, ResponseError

from monitor import redis_keys as keys
from monitor.diff import Outcome
from monitor.errors import StaleStateError, StoreError
from monitor.models import Conference, Phase, SourceState, Tombstone, Tracked
from monitor.redis_scripts import COMMIT, TRIM
from monitor.secret import Secret, redact_url
from monitor.store import Loaded, OutboxEntry

log = structlog.get_logger("monitor.store")

_BLOCK_SLICE = 5.0  # seconds one XREADGROUP may block; the socket timeout is above it
CLAIM_IDLE = 60.0  # seconds an entry may sit with a silent consumer before another takes it
CLAIM_EVERY = 15.0  # how often a reader looks for such entries


class RedisStore:
    def __init__(self, client: aioredis.Redis, *, consumer: str, where: str) -> None:
        self._redis = client
        self._consumer = consumer
        self._where = where  # the URL without credentials, for messages
        self._commit = client.register_script(COMMIT)
        self._trim = client.register_script(TRIM)
        self._sources: list[str] = []
        self._replay: dict[str, dict[str, str]] = {}  # sink -> stream -> pending cursor
        self._claimed_at: dict[str, float] = {}  # sink -> time.monotonic() of the last claim

    @classmethod
    def from_url(cls, url: Secret, *, consumer: str) -> RedisStore:
        client = aioredis.Redis.from_url(
            url.reveal(),
            socket_timeout=_BLOCK_SLICE + 5,
            socket_connect_timeout=5,
            health_check_interval=30,
        )
        return cls(client, consumer=consumer, where=redact_url(url.reveal()))

    def _error(self, action: str, exc: RedisError) -> StoreError:
        return StoreError(f"redis {self._where}: {action} failed: {type(exc).__name__}: {exc}")

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except RedisError as exc:
            raise self._error("ping", exc) from exc

    async def load(self, source: str) -> Loaded:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(keys.meta(source))
                pipe.hgetall(keys.tracked(source))
                pipe.hgetall(keys.tombstones(source))
                meta, tracked, tombs = await pipe.execute()
        except RedisError as exc:
            raise self._error(f"loading source {source}", exc) from exc
        state = SourceState(
            baselined=meta.get(b"baselined") == b"1",
            tracked={int(k): _decode_tracked(v) for k, v in tracked.items()},
            tombstones={int(k): _decode_tombstone(v) for k, v in tombs.items()},
        )
        return Loaded(state, int(meta.get(b"version", 0)))

    async def commit(self, source: str, version: int, outcome: Outcome) -> int:
        state, delta = outcome.state, outcome.delta
        args: list[Any] = [version, "1" if state.baselined else "0"]
        _section(args, delta.tracked, state.tracked, _encode_tracked)
        _section(args, delta.tombstones, state.tombstones, _encode_tombstone)
        args.append(len(outcome.events))
        for event in outcome.events:
            args.extend((event.id, event.type.value, event.key, event.body()))
        script_keys = [
            keys.meta(source),
            keys.tracked(source),
            keys.tombstones(source),
            keys.outbox(source),
        ]
        try:
            return int(await self._commit(keys=script_keys, args=args))
        except ResponseError as exc:
            if str(exc).startswith("STALE"):
                raise StaleStateError(f"source {source}: {exc}") from exc
            raise self._error(f"committing source {source}", exc) from exc
        except RedisError as exc:
            raise self._error(f"committing source {source}", exc) from exc

    async def open_outbox(self, sinks: Sequence[str], sources: Sequence[str]) -> None:
        self._sources = list(sources)
        try:
            for source in sources:
                for sink in sinks:
                    try:
                        await self._redis.xgroup_create(
                            keys.outbox(source), sink, "$", mkstream=True
                        )
                    except ResponseError as exc:
                        if "BUSYGROUP" not in str(exc):
                            raise
        except RedisError as exc:
            raise self._error("creating consumer groups", exc) from exc
        self._replay = {sink: {keys.outbox(s): "0" for s in sources} for sink in sinks}

    async def read(self, sink: str, count: int, wait: float) -> list[OutboxEntry]:
        try:
            replay = self._replay.get(sink)
            if replay:
                pending = await self._read_pending(sink, replay, count)
                if pending or replay:
                    return pending
            if time.monotonic() - self._claimed_at.get(sink, 0.0) >= CLAIM_EVERY:
                self._claimed_at[sink] = time.monotonic()
                if claimed := await self._claim(sink, count):
                    return claimed
            streams: Any = {keys.outbox(source): ">" for source in self._sources}
            block = max(1, int(min(wait, _BLOCK_SLICE) * 1000))
            reply = await self._redis.xreadgroup(
                sink, self._consumer, streams, count=count, block=block
            )
        except RedisError as exc:
            raise self._error(f"reading the outbox of sink {sink}", exc) from exc
        return _entries(reply)

    async def _read_pending(
        self, sink: str, cursors: dict[str, str], count: int
    ) -> list[OutboxEntry]:
        """Entries this consumer read before a restart and never acknowledged, oldest first."""
        streams: Any = dict(cursors)
        reply: Any = await self._redis.xreadgroup(sink, self._consumer, streams, count=count)
        found: list[OutboxEntry] = []
        answered: set[str] = set()
        for stream, items in reply or []:
            name = stream.decode()
            answered.add(name)
            if not items:  # nothing more pending on this stream
                cursors.pop(name, None)
                continue
            cursors[name] = items[-1][0].decode()
            for entry_id, fields in items:
                if fields:
                    found.append(_entry(name, entry_id, fields))
                else:  # trimmed while pending: nothing is left to deliver
                    await self._redis.xack(name, sink, entry_id)
        for name in [name for name in cursors if name not in answered]:
            del cursors[name]
        return found

    async def _claim(self, sink: str, count: int) -> list[OutboxEntry]:
        """Take over entries another consumer read and left idle past ``CLAIM_IDLE``."""
        found: list[OutboxEntry] = []
        for source in self._sources:
            stream = keys.outbox(source)
            reply: Any = await self._redis.xautoclaim(
                stream, sink, self._consumer, int(CLAIM_IDLE * 1000), "0-0", count=count
            )
            found.extend(
                _entry(stream, entry_id, fields) for entry_id, fields in reply[1] if fields
            )
        if found:
            log.warning("outbox_entries_reclaimed", sink=sink, count=len(found))
        return found

    async def keep(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        by_stream: dict[str, list[Any]] = {}
        for entry in entries:
            by_stream.setdefault(keys.outbox(entry.source), []).append(entry.entry_id)
        try:
            for stream, ids in by_stream.items():
                await self._redis.xclaim(stream, sink, self._consumer, 0, ids, justid=True)
        except RedisError as exc:
            raise self._error(f"keeping entries of sink {sink}", exc) from exc

    async def ack(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for entry in entries:
                    pipe.xack(keys.outbox(entry.source), sink, entry.entry_id)
                await pipe.execute()
        except RedisError as exc:
            raise self._error(f"acknowledging for sink {sink}", exc) from exc

    async def backlog(self, sink: str) -> int:
        total = 0
        try:
            for source in self._sources:
                stream = keys.outbox(source)
                groups: Any = await self._redis.xinfo_groups(stream)
                for group in groups:
                    if group["name"].decode() != sink:
                        continue
                    lag = group.get("lag")
                    if lag is None:  # Redis < 7 does not report lag
                        start = "(" + group["last-delivered-id"].decode()
                        behind: Any = await self._redis.xrange(stream, min=start)
                        lag = len(behind)
                    total += int(group["pending"]) + int(lag)
        except RedisError as exc:
            raise self._error(f"measuring the backlog of sink {sink}", exc) from exc
        return total

    async def trim(self) -> int:
        """Drop outbox entries every sink has acknowledged; returns how many went."""
        removed = 0
        try:
            for source in self._sources:
                removed += int(await self._trim(keys=[keys.outbox(source)]))
        except (RedisError, NoScriptError) as exc:
            raise self._error("trimming the outbox", exc) from exc
        return removed

    async def close(self) -> None:
        await self._redis.aclose()


def _section(args: list[Any], ids: frozenset[int], present: Any, encode: Any) -> None:
    upserts = [(cid, present[cid]) for cid in ids if cid in present]
    args.append(len(upserts))
    for cid, value in upserts:
        args.extend((cid, encode(value)))
    deletes = [cid for cid in ids if cid not in present]
    args.append(len(deletes))
    args.extend(deletes)


def _encode_tracked(tracked: Tracked) -> str:
    return json.dumps(
        {
            "c": tracked.conference.raw,
            "g": tracked.generation,
            "p": tracked.phase.value,
            "m": tracked.misses,
        },
        separators=(",", ":"),
    )


def _decode_tracked(blob: bytes) -> Tracked:
    data = json.loads(blob)
    conference = Conference.from_api(data["c"])
    if conference is None:
        raise StoreError("stored conference without an id")
    return Tracked(conference, int(data["g"]), Phase(data["p"]), int(data["m"]))


def _encode_tombstone(tomb: Tombstone) -> str:
    return json.dumps({"g": tomb.generation, "e": tomb.ended.isoformat()})


def _decode_tombstone(blob: bytes) -> Tombstone:
    data = json.loads(blob)
    return Tombstone(int(data["g"]), datetime.fromisoformat(data["e"]))


def _entries(reply: Any) -> list[OutboxEntry]:
    return [
        _entry(stream.decode(), entry_id, fields)
        for stream, items in reply or []
        for entry_id, fields in items
        if fields
    ]


def _entry(stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> OutboxEntry:
    return OutboxEntry(
        entry_id=entry_id.decode(),
        source=keys.source_of_outbox(stream),
        event_id=fields[b"id"].decode(),
        type=fields[b"type"].decode(),
        key=fields[b"key"].decode(),
        body=fields[b"body"],
    )
