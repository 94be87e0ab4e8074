"""Leases in Redis: which replica works on which source or sink, and which replicas are alive.

A lease is a key holding its holder (``store.holder``) with no expiry: it stays valid while that
member is alive in the replicas sorted set, so one heartbeat keeps every lease of a replica
(one script call per check, however many sources it holds). Every acquisition also raises the
lease's fencing counter and returns it, and the commit script refuses a write whose holder or
token is not current (``scripts.COMMIT``). Each lease's keys share their hash tag, so every
script touches one Cluster slot; the acquisitions of one check go in one pipelined round trip.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import redis.asyncio as aioredis

from monitor.store.redis import keys
from monitor.store.redis.scripts import ACQUIRE, HEARTBEAT, MEMBERS, RELEASE
from monitor.store.values import Membership


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisLeases:
    """Redis errors pass through; ``RedisStore`` converts them, naming what failed."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._acquire = client.register_script(ACQUIRE)
        self._release = client.register_script(RELEASE)
        self._heartbeat = client.register_script(HEARTBEAT)
        self._members = client.register_script(MEMBERS)

    async def heartbeat(self, replica: str, nonce: str, epoch: int, ttl: float) -> Membership:
        answer: Any = await self._heartbeat(
            keys=[keys.replicas()], args=[replica, epoch, nonce, _ms(ttl)]
        )
        epoch, now, *live = answer
        return Membership(int(epoch), int(now), tuple(sorted(m.decode() for m in live)))

    async def acquire(
        self, names: Sequence[str], holder: str, view: Membership, force: Collection[str]
    ) -> dict[str, int]:
        """One pipeline; a name whose script fails (a key of the wrong type) is not taken, and
        does not keep the others from being taken."""
        if not names:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                forced = int(name in force)
                args: list[str | int] = [holder, view.now, forced, *view.live]
                await self._acquire(
                    keys=[keys.lease(name), keys.fence(name)], args=args, client=pipe
                )
            tokens: list[Any] = await pipe.execute(raise_on_error=False)
        return {
            name: int(token)
            for name, token in zip(names, tokens, strict=True)
            if not isinstance(token, Exception) and int(token)
        }

    async def release(self, names: Sequence[str], holder: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                await self._release(keys=[keys.lease(name)], args=[holder], client=pipe)
            await pipe.execute()

    async def leave(self, holder: str) -> None:
        await self._redis.zrem(keys.replicas(), holder)

    async def members(self) -> tuple[int, dict[str, int]]:
        now, *pairs = await self._members(keys=[keys.replicas()])
        return int(now), {
            member.decode(): int(float(until))
            for member, until in zip(pairs[::2], pairs[1::2], strict=True)
        }
