"""From a ``state_url`` to a Redis client, with the timeouts the store relies on.

The forms of ``state_url`` that name Redis (``config.fields.state_url`` checks them with
``redis_url.parse``, ``connect`` makes the client):

``redis://[[user]:password@]host[:6379][/db]``, ``rediss://…`` (TLS), ``unix:///path.sock?db=0``
    One server, read by redis-py itself (``Redis.from_url``).

``redis+sentinel://[[user]:password@]host[:26379][,host[:26379]…]/service[/db]``, ``rediss+sentinel://…``
    The primary that a Sentinel group calls ``service``, followed across failovers
    (``sentinel``). The credentials are the primary's (and its replicas'); sentinels that
    want their own take the query options ``sentinel_username`` and ``sentinel_password``.

``redis+cluster://[[user]:password@]host[:6379][,host[:6379]…]``, ``rediss+cluster://…``
    A Redis Cluster, found through any of the nodes listed; database 0 only. Every key a
    multi-key step touches shares a hash tag (``keys``), so each step stays in one slot.

Both HA forms take the TLS query options ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``,
``ssl_cert_reqs`` (none, optional, required) and ``ssl_check_hostname`` (true, false).
Messages name a server by ``redis_url.where``: scheme, hosts and service, never credentials
or options.
"""

from __future__ import annotations

from typing import Any, Final, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from monitor.config.redis_url import is_high_availability, parse
from monitor.core.secret import Secret
from monitor.store.redis.cluster import cluster_client
from monitor.store.redis.sentinel import sentinel_primary

BLOCK_SLICE: Final = 5.0  # seconds one XREADGROUP may block; the socket timeout is above it
TIMEOUTS: Final[dict[str, Any]] = {
    "socket_timeout": BLOCK_SLICE + 5,
    "socket_connect_timeout": 5,
    "health_check_interval": 30,
}


# Every source commits at its tick, and a thousand sources tick together: redis-py's pool
# (100 connections by default, from 8.0) would refuse the 101st at once. One server's pool
# makes a call wait for a free connection instead; Sentinel's pool cannot wait, so it may grow
# further (Redis accepts 10,000 clients by default).
POOL_SIZE: Final = 200
POOL_WAIT: Final = 10.0  # seconds a call waits for a free connection before it fails
SENTINEL_POOL_SIZE: Final = 2000


def connect(url: Secret) -> aioredis.Redis:
    """A client for any form of ``state_url`` that names Redis (see the module's docstring)."""
    text = url.reveal()
    if not is_high_availability(text):
        pool = aioredis.BlockingConnectionPool.from_url(
            text, max_connections=POOL_SIZE, timeout=POOL_WAIT, **TIMEOUTS
        )
        client = aioredis.Redis(connection_pool=pool)
        client.auto_close_connection_pool = True  # closing the client closes its pool
        return client
    topology = parse(text)
    if topology.kind == "sentinel":
        return sentinel_primary(topology, {**TIMEOUTS, "max_connections": SENTINEL_POOL_SIZE})
    # RedisCluster offers the commands the store uses, under the same names and arguments;
    # the store tells the two apart where they differ (``is_cluster``).
    return cast("aioredis.Redis", cluster_client(topology, TIMEOUTS))


def is_cluster(client: object) -> bool:
    """Is this a Redis Cluster client (where a command must keep to one slot)?"""
    return isinstance(client, RedisCluster)
