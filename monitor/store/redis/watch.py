"""What an institution-wide watch keeps in Redis: its baseline, directory and context marks.

Three keys per source (``keys.baseline``, ``keys.directory``, ``keys.contexts``), in the
source's hash tag like the rest of its state. None of them is written in the commit: each is
written after what it describes (``WatchStore``), so a plain command each is enough.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from monitor.store.redis import keys


class RedisWatch:
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def baseline_at(self, source: str, now: datetime) -> datetime:
        key = keys.baseline(source)
        await self._redis.set(key, now.isoformat(), nx=True)
        stored = await self._redis.get(key)
        try:
            return datetime.fromisoformat(_text(stored or b""))
        except ValueError:  # written by something else: start again from now
            await self._redis.set(key, now.isoformat())
            return now

    async def directory(self, source: str) -> bytes | None:
        value = await self._redis.get(keys.directory(source))
        return value if isinstance(value, bytes) or value is None else str(value).encode()

    async def save_directory(self, source: str, directory: bytes) -> None:
        await self._redis.set(keys.directory(source), directory)

    async def context_marks(self, source: str) -> dict[str, str]:
        marks = await self._redis.hgetall(keys.contexts(source))
        return {_text(k): _text(v) for k, v in marks.items()}

    async def mark_contexts(self, source: str, marks: Mapping[str, str]) -> None:
        kept: Any = {k: v for k, v in marks.items() if v}  # redis-py types want an invariant map
        gone = [k for k, v in marks.items() if not v]
        async with self._redis.pipeline(transaction=False) as pipe:
            if kept:
                pipe.hset(keys.contexts(source), mapping=kept)
            if gone:
                pipe.hdel(keys.contexts(source), *gone)
            await pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
