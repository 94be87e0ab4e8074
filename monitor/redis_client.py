"""From a ``state_url`` to a Redis client, with the timeouts the store relies on."""

from __future__ import annotations

from typing import Final

import redis.asyncio as aioredis

from monitor.secret import Secret

BLOCK_SLICE: Final = 5.0  # seconds one XREADGROUP may block; the socket timeout is above it


def connect(url: Secret) -> aioredis.Redis:
    """A client for ``redis://``, ``rediss://`` or ``unix://``."""
    return aioredis.Redis.from_url(
        url.reveal(),
        socket_timeout=BLOCK_SLICE + 5,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
