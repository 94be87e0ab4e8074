"""Redis Sentinel: a client of the primary a Sentinel group names, following it on failover.

Every new connection asks a sentinel where the primary is, and while the client is busy it asks
again every ``FOLLOW_EVERY`` seconds, closing connections to a primary the sentinels no longer
name: after a failover the client moves to the new primary by itself, even when the old one
lives on (a planned ``SENTINEL FAILOVER`` leaves it writable until the sentinels demote it,
failover-timeout later). Commands under way when the old primary went fail, and the store says
so (and tries again). A sentinel answers at once or is skipped for the next; while none names a
primary that is up, every command fails at once, naming the sentinels by host:port.
Replication is asynchronous: a write the old primary acknowledged but had not yet passed to the
replica that is promoted is lost (``docs/scaling.md`` says what that costs).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Final

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from monitor.config.redis_url import Topology, tls_options

SENTINEL_TIMEOUT: Final = 5.0  # a sentinel answers at once or is skipped for the next one
FOLLOW_EVERY: Final = 1.0  # seconds between looks at where the primary is, while in use


class SentinelPrimary(aioredis.Redis):
    """The primary a Sentinel group names; closing it closes the sentinel connections too."""

    sentinel_group: Sentinel | None = None  # (``sentinel`` is the SENTINEL command)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        try:
            await super().aclose(close_connection_pool)
        finally:
            if self.sentinel_group is not None:
                await self.sentinel_group.aclose()


class Sentinels(Sentinel):
    """redis-py's ``Sentinel``, whose failure to find the primary says, in a line, what each
    sentinel answered (by host:port) instead of quoting every client's settings."""

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        answers: list[str] = []
        for sentinel in list(self.sentinels):  # other tasks may reorder the list meanwhile
            kwargs = sentinel.connection_pool.connection_kwargs
            host, port = kwargs.get("host", "?"), kwargs.get("port", "?")
            address = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
            try:
                primaries = await sentinel.sentinel_masters()
            except RedisError as exc:  # skipped: the next sentinel may know
                answers.append(f"{address} did not answer ({type(exc).__name__})")
                continue
            state = primaries.get(service_name) if isinstance(primaries, dict) else None
            if state is None:
                answers.append(f"{address} does not know it")
            elif not self.check_master_state(state, service_name):
                answers.append(f"{address} sees it down")
            else:  # ask this sentinel first next time, as redis-py does
                self._ask_first(sentinel)
                return str(state["ip"]), int(state["port"])
        raise MasterNotFoundError(f"no primary {service_name!r}: " + ", ".join(answers))

    def _ask_first(self, sentinel: aioredis.Redis) -> None:
        """Move ``sentinel`` to the front by where it is now, not where it was when it was
        asked: lookups run concurrently (every connection made during a failover asks), and a
        swap by a stale index put one sentinel in the list twice and lost another, which was
        then neither asked again nor closed (its connections leaked)."""
        now = self.sentinels.index(sentinel)
        self.sentinels[0], self.sentinels[now] = self.sentinels[now], self.sentinels[0]


class FollowingPool(SentinelConnectionPool):
    """Connections to the primary the sentinels name now, not to the one they named when the
    connection was made: before a connection is used, at most every ``FOLLOW_EVERY`` seconds,
    the sentinels are asked again; a connection to another address is closed and made anew.

    redis-py asks only when it connects, and keeps idle connections to a demoted primary (which
    answers reads and, until the sentinels reconfigure it, takes writes that are then lost)."""

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any) -> None:
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]
        self.next_look = 0.0  # time.monotonic() of the next look

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        if time.monotonic() >= self.next_look:
            self.next_look = time.monotonic() + FOLLOW_EVERY  # one look at a time
            # Closes idle connections if the primary moved. Should no sentinel name one, a
            # connection that still works is used; a new one fails to connect.
            with contextlib.suppress(MasterNotFoundError):
                await self.get_master_address()  # type: ignore[no-untyped-call]
        address = (connection.host, connection.port)  # type: ignore[attr-defined]
        if connection.is_connected and self.master_address not in (None, address):
            await connection.disconnect()  # it was in use when the primary moved
        await super().ensure_connection(connection)


def sentinel_primary(topology: Topology, timeouts: dict[str, Any]) -> SentinelPrimary:
    """A client of the primary the sentinels of ``topology`` name, with ``timeouts``."""
    tls = tls_options(topology)
    asking: dict[str, Any] = {
        "socket_timeout": SENTINEL_TIMEOUT,
        "socket_connect_timeout": SENTINEL_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),  # a sentinel that fails is skipped, not asked again
        **tls,
    }
    if "sentinel_username" in topology.options:
        asking["username"] = topology.options["sentinel_username"]
    if "sentinel_password" in topology.options:
        asking["password"] = topology.options["sentinel_password"]
    sentinel = Sentinels(  # type: ignore[no-untyped-call,unused-ignore]  # annotated from redis-py 8.2
        list(topology.nodes),
        sentinel_kwargs=asking,
        username=topology.username,
        password=topology.password,
        db=topology.db,
        **timeouts,
        **tls,
    )
    primary: SentinelPrimary = sentinel.master_for(
        topology.service, redis_class=SentinelPrimary, connection_pool_class=FollowingPool
    )
    primary.sentinel_group = sentinel
    return primary
