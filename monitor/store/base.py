"""Which store a ``state_url`` names: ``open_store``. The roles are in ``roles``, the values they
trade in ``values``."""

from __future__ import annotations

from typing import Final

from monitor.core.errors import ConfigError
from monitor.core.secret import Secret
from monitor.core.timings import PRODUCTION, Timings
from monitor.store.roles import Store
from monitor.store.values import HistoryBounds


def open_store(
    url: Secret,
    *,
    consumer: str,
    timings: Timings = PRODUCTION,
    history: HistoryBounds | None = None,
) -> Store:
    """The store a ``state_url`` names. ``consumer`` names this process among replicas;
    ``timings`` say when a Redis outbox reclaims a silent consumer's entries; ``history``
    how many recent events it keeps for people (default: ``HistoryBounds()``)."""
    scheme = url.reveal().partition(":")[0].lower()  # urlsplit rejects some lists of hosts
    if scheme == "memory":
        from monitor.store.memory import MemoryStore  # noqa: PLC0415 - only what is used

        return MemoryStore(history)
    if scheme in REDIS_SCHEMES:
        from monitor.config import redis_url  # noqa: PLC0415 - only what is used
        from monitor.store.redis import client as redis_client  # noqa: PLC0415 - only what is used
        from monitor.store.redis.store import RedisStore  # noqa: PLC0415 - only what is used

        where = redis_url.where(url.reveal())  # names every host of a Sentinel or Cluster
        client = redis_client.connect(url)
        return RedisStore(client, consumer=consumer, where=where, timings=timings, history=history)
    raise ConfigError("state_url", f"unsupported scheme {scheme!r}")


#: One server, a Sentinel group or a Cluster; ``rediss`` for TLS (``store.redis.client``).
REDIS_SCHEMES: Final = (
    *("redis", "rediss", "unix"),
    *("redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"),
)
