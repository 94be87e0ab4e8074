"""Reading several streams as one consumer of a group: one XREADGROUP, or one per stream.

A sink reads several streams (every source's outbox, its own replay stream), each under its own
hash tag. On one server, or a Sentinel-managed primary, one XREADGROUP reads them all and blocks
for all of them in one round trip. Redis Cluster refuses a command whose keys are in different
slots, so there each stream gets a blocking XREADGROUP of its own, on a connection of its own.
Such a read that is still waiting when ``read_new`` returns stays on, and a later call collects
what it got: no entry is read and then dropped, each stream's entries come out in order (a stream
never has two reads at once), and a new entry is read as soon as it is committed, without
polling. The price is one connection per (sink, stream) on the node that holds the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, Final

import redis.asyncio as aioredis

from monitor.store.redis.client import BLOCK_SLICE, is_cluster

Reply = list[tuple[str, Any]]  # (stream, its entries), as XREADGROUP answers
SLACK: Final = 0.01  # seconds: the shortest wait worth a blocking read (Redis may end one early)


class StreamReads:
    """Redis errors pass through; ``RedisStore`` converts them, naming what failed."""

    def __init__(self, client: aioredis.Redis, consumer: str) -> None:
        self._redis = client
        self._consumer = consumer
        self._cluster = is_cluster(client)
        self._waiting: dict[tuple[str, str], asyncio.Task[Reply]] = {}  # (group, stream)

    async def _xread(
        self, group: str, streams: dict[str, str], count: int, block: int | None = None
    ) -> Reply:
        ids: Any = streams
        reply: Any = await self._redis.xreadgroup(
            group, self._consumer, ids, count=count, block=block
        )
        return [(stream.decode(), items) for stream, items in reply or []]

    async def read_at(self, group: str, cursors: dict[str, str], count: int) -> Reply:
        """What follows each cursor (an id: this consumer's pending entries after it; ``>``:
        new entries), without waiting."""
        if not self._cluster:
            return await self._xread(group, cursors, count)
        return await _each([self._xread(group, {s: at}, count) for s, at in cursors.items()])

    async def read_new(self, group: str, streams: Sequence[str], count: int, wait: float) -> Reply:
        """New entries, waiting up to ``wait`` seconds (at most ``BLOCK_SLICE``) for one."""
        if not self._cluster:
            block = max(1, int(min(wait, BLOCK_SLICE) * 1000))
            return await self._xread(group, dict.fromkeys(streams, ">"), count, block)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait, BLOCK_SLICE)
        first = True
        while True:
            # A stream with a read under way is left to it (a second read could overtake it);
            # the others are read at once, and wait only if none of them has anything.
            if found := self._finished(group, streams):
                return found
            if not first and deadline - loop.time() < SLACK:  # a wait that ended (about) now
                return []
            first = False
            idle = [s for s in streams if (group, s) not in self._waiting]
            if idle:
                found = await self.read_at(group, dict.fromkeys(idle, ">"), count)
                if found := [(stream, items) for stream, items in found if items]:
                    return found
            left = max(deadline - loop.time(), SLACK)
            for stream in idle:
                read = self._xread(group, {stream: ">"}, count, int(left * 1000))
                task = self._waiting[(group, stream)] = asyncio.create_task(read)
                task.add_done_callback(_observe)
            waiting = [self._waiting[(group, s)] for s in streams]
            await asyncio.wait(waiting, timeout=left, return_when=asyncio.FIRST_COMPLETED)

    def _finished(self, group: str, streams: Sequence[str]) -> Reply:
        """What the finished reads got (streams with entries); their first failure only when
        none got anything."""
        found: Reply = []
        failure: BaseException | None = None
        for stream in streams:
            task = self._waiting.get((group, stream))
            if task is None or not task.done():
                continue
            del self._waiting[(group, stream)]
            if task.cancelled():
                continue
            if (exc := task.exception()) is not None:
                failure = failure or exc
                continue
            found += [(stream, items) for stream, items in task.result() if items]
        if failure is not None and not found:
            raise failure
        return found

    def held(self, group: str) -> dict[str, list[Any]]:
        """Ids that finished reads got and nobody collected yet, by stream (``keep`` claims
        them too, so another replica does not take them for a dead consumer's)."""
        held: dict[str, list[Any]] = {}
        for (owner, stream), task in self._waiting.items():
            if owner == group and task.done() and not task.cancelled() and not task.exception():
                held[stream] = [i for _, items in task.result() for i, _ in items]
        return held

    def drop(self, group: str) -> None:
        """Stop the group's reads: the caller reads its pending entries again from the start,
        which covers whatever they got."""
        for key in [key for key in self._waiting if key[0] == group]:
            self._waiting.pop(key).cancel()

    async def close(self) -> None:
        """Stop every read still waiting (what they got stays pending in Redis)."""
        waiting = list(self._waiting.values())
        self._waiting.clear()
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)


async def _each(reads: Sequence[Awaitable[Reply]]) -> Reply:
    """Run reads at once; raise the first failure only when no read got anything (what the
    others got is now pending for this consumer: it must be delivered, not dropped)."""
    results = await asyncio.gather(*reads, return_exceptions=True)
    found: Reply = []
    failure: BaseException | None = None
    for result in results:
        if isinstance(result, BaseException):
            failure = failure or result
        else:
            found += result
    if failure is not None and not any(items for _, items in found):
        raise failure
    return found


def _observe(task: asyncio.Task[Reply]) -> None:
    """Mark a read's failure as seen: one nobody collects (the store closed) must not log
    "exception was never retrieved"."""
    if not task.cancelled():
        task.exception()
