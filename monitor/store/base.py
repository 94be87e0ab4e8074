"""Which store a ``state_url`` names: ``open_store``. The roles are in ``roles``, the values they
trade in ``values``."""

from __future__ import annotations

from typing import Final

from monitor.core.errors import ConfigError
from monitor.core.secret import Secret
from monitor.store.roles import Store

#: Seconds to wait before asking a store that failed again.
STORE_RETRY: Final = 1.0


def open_store(url: Secret, *, consumer: str) -> Store:
    """The store a ``state_url`` names. ``consumer`` names this process among replicas."""
    scheme = url.reveal().partition(":")[0].lower()  # urlsplit rejects some lists of hosts
    if scheme == "memory":
        from monitor.store.memory import MemoryStore  # noqa: PLC0415 - only what is used

        return MemoryStore()
    if scheme in REDIS_SCHEMES:
        from monitor.config import redis_url  # noqa: PLC0415 - only what is used
        from monitor.store.redis import client as redis_client  # noqa: PLC0415 - only what is used
        from monitor.store.redis.store import RedisStore  # noqa: PLC0415 - only what is used

        where = redis_url.where(url.reveal())  # names every host of a Sentinel or Cluster
        return RedisStore(redis_client.connect(url), consumer=consumer, where=where)
    raise ConfigError("state_url", f"unsupported scheme {scheme!r}")


#: One server, a Sentinel group or a Cluster; ``rediss`` for TLS (``store.redis.client``).
REDIS_SCHEMES: Final = (
    *("redis", "rediss", "unix"),
    *("redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"),
)
