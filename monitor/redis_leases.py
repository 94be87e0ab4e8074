"""Leases in Redis: which replica works on which source or sink, and which replicas are alive.

A lease is a key holding its holder, ``<replica>@<epoch>``, with no expiry: it stays valid while
that epoch is alive in the replicas sorted set, so one heartbeat keeps every lease of a replica
(one script call per check, however many sources it holds). Every acquisition also raises the
lease's fencing counter and returns it, and the commit script refuses a write whose holder or
token is not current (``redis_scripts.COMMIT``). Each lease's keys share their hash tag, so every
script touches one Cluster slot; the acquisitions of one check go in one pipelined round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from monitor import redis_keys as keys
from monitor.redis_scripts import ACQUIRE, HEARTBEAT, RELEASE
from monitor.store import Membership


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisLeases:
    """Redis errors pass through; ``RedisStore`` converts them, naming what failed."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._acquire = client.register_script(ACQUIRE)
        self._release = client.register_script(RELEASE)
        self._heartbeat = client.register_script(HEARTBEAT)

    async def heartbeat(self, replica: str, epoch: int, ttl: float) -> Membership:
        answer: Any = await self._heartbeat(keys=[keys.replicas()], args=[replica, epoch, _ms(ttl)])
        epoch, now, *live = answer
        return Membership(int(epoch), int(now), tuple(sorted(h.decode() for h in live)))

    async def acquire(self, names: Sequence[str], holder: str, view: Membership) -> dict[str, int]:
        if not names:
            return {}
        args: list[str | int] = [holder, view.now, *view.live]
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                await self._acquire(
                    keys=[keys.lease(name), keys.fence(name)], args=args, client=pipe
                )
            tokens: list[Any] = await pipe.execute()
        return {name: int(token) for name, token in zip(names, tokens, strict=True) if int(token)}

    async def release(self, name: str, holder: str) -> None:
        await self._release(keys=[keys.lease(name)], args=[holder])

    async def leave(self, holder: str) -> None:
        await self._redis.zrem(keys.replicas(), holder)
