"""Shared fixtures: a real redis-server for the whole session, fresh data for every test, and
the stores, sessions and receivers the delivery tests share.

A test never shares a database with anything else: the server is ours, on a free loopback port
(``tests/support/redis_server.py``), flushed before each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import redis
import redis.asyncio as aioredis

from monitor.core.secret import Secret
from monitor.store.redis.store import RedisStore
from tests.support.delivery_helpers import StoreFactory, store_factory
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer, start_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis URL whose database is empty at the start of the test."""
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client of that database, to look under the store or to change things behind it."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_store(redis_url: str) -> AsyncIterator[RedisStore]:
    store = RedisStore.from_url(Secret(redis_url), consumer="test-consumer")
    yield store
    await store.close()


# Shared by the delivery tests.


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Opens stores on one backing (memory, then Redis): a new one is a restarted process."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    async with store_factory(request.param, url) as factory:
        yield factory


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    """A webhook receiver whose answers a test scripts, per event."""
    async with Receiver() as receiver:
        yield receiver
