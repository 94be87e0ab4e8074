"""Leases in Redis: which replica works on which source or sink, and which replicas are alive.

A lease is a key holding the replica's name with a TTL (``SET ... PX``); every acquisition also
raises the lease's fencing counter and returns it, and the commit script refuses a write whose
token is not current (``redis_scripts.COMMIT``). Each lease's keys share their hash tag, so
every script touches one Cluster slot; several leases are renewed in one pipelined round trip.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from monitor import redis_keys as keys
from monitor.redis_scripts import ACQUIRE, HEARTBEAT, RELEASE, RENEW


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisLeases:
    """Redis errors pass through; ``RedisStore`` converts them, naming what failed."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._acquire = client.register_script(ACQUIRE)
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)
        self._heartbeat = client.register_script(HEARTBEAT)

    async def heartbeat(self, replica: str, ttl: float) -> list[str]:
        live: Any = await self._heartbeat(keys=[keys.replicas()], args=[replica, _ms(ttl)])
        return sorted(member.decode() for member in live)

    async def acquire(self, name: str, replica: str, ttl: float) -> int | None:
        token = int(
            await self._acquire(keys=[keys.lease(name), keys.fence(name)], args=[replica, _ms(ttl)])
        )
        return token or None

    async def renew(self, held: dict[str, int], replica: str, ttl: float) -> set[str]:
        if not held:
            return set()
        names = sorted(held)
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                await self._renew(
                    keys=[keys.lease(name), keys.fence(name)],
                    args=[replica, held[name], _ms(ttl)],
                    client=pipe,
                )
            kept: list[Any] = await pipe.execute()
        return {name for name, ok in zip(names, kept, strict=True) if not int(ok)}

    async def release(self, name: str, replica: str) -> None:
        await self._release(keys=[keys.lease(name)], args=[replica])

    async def leave(self, replica: str) -> None:
        await self._redis.zrem(keys.replicas(), replica)
