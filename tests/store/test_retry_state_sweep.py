"""Retry states never pile up in Redis: what the contract suite cannot show through the
``Store`` protocol alone (``test_ledger_contract.py`` pins the rest, on both stores). An entry
trimmed while pending, states written before they named their entry, and what the sweep costs
an idle store."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from monitor.core.secret import Secret
from monitor.store.redis import keys
from monitor.store.redis.ledger import UNNAMED_STATE_TTL
from monitor.store.redis.scripts import FORGET_RETRIES
from monitor.store.redis.store import RedisStore
from monitor.store.values import RetryState
from tests.support.delivery_helpers import commandstats, started

STATE = RetryState(1, 1_790_000_000.0, "HTTP 503")


@pytest.fixture
async def replica(redis_url: str) -> AsyncIterator[RedisStore]:
    """A replica that delivers to ``ops`` and ``chat``."""
    store = RedisStore.from_url(Secret(redis_url), consumer="replica-a")
    await store.open_outbox(["ops", "chat"], ["main"])
    yield store
    await store.close()


async def test_the_retry_state_of_an_entry_trimmed_while_pending_is_forgotten(
    replica: RedisStore, redis_url: str
) -> None:
    """A replica whose configuration lacks ``chat`` (a rollout half done) trims entries that
    ``chat`` still had pending with a retry state. ``chat`` finds them empty, lets them go, and
    its next trim forgets their retry states."""
    await replica.commit("main", 0, started("main", 1, 2))
    chat = await replica.read("chat", 10, 0.1)
    await replica.schedule_retry("chat", chat, STATE)
    await replica.trim()  # both still pending: kept
    assert set(await replica.retry_states("chat", chat)) == {e.event_id for e in chat}

    other = RedisStore.from_url(Secret(redis_url), consumer="replica-b")
    try:
        await other.open_outbox(["ops"], ["main"])
        await other.ack("ops", await other.read("ops", 10, 0.1))
        assert await other.trim() == 2  # chat's pending entries too: it does not know chat
    finally:
        await other.close()

    await replica.adopt("chat")  # read its pending entries again, as after a restart
    assert await replica.read("chat", 10, 0.1) == []  # nothing left to deliver
    assert await replica.backlog("chat") == 0
    await replica.trim()
    assert await replica.retry_states("chat", chat) == {}


async def test_unnamed_retry_states_are_forgotten_once_long_overdue(
    redis_url: str, raw_redis: aioredis.Redis
) -> None:
    """States written before they named their entry (the leak this sweep ends): one whose
    attempt is far overdue is a settled entry's, one due soon may be a live delivery's."""
    now = time.time()
    old = {"attempts": 3, "due": now - UNNAMED_STATE_TTL - 60, "error": "HTTP 503"}
    recent = {"attempts": 1, "due": now + 60, "error": "HTTP 503"}
    await raw_redis.hset(
        keys.sink_retries("ops"),
        mapping={"evt_old": json.dumps(old), "evt_recent": json.dumps(recent), "evt_bad": "{"},
    )
    store = RedisStore.from_url(Secret(redis_url), consumer="replica-a")
    try:
        await store.open_outbox(["ops"], ["main"])
        await store.trim()
    finally:
        await store.close()
    assert await raw_redis.hkeys(keys.sink_retries("ops")) == [b"evt_recent"]


async def test_an_idle_store_sweeps_nothing(replica: RedisStore, raw_redis: aioredis.Redis) -> None:
    """The first trim sweeps every sink (what the last run left); later ones only a sink that
    saved a retry since, and an idle store sends Redis nothing for it."""
    await replica.commit("main", 0, started("main", 1))
    before = await commandstats(raw_redis)
    await replica.trim()
    assert (await commandstats(raw_redis))["hscan"] - before["hscan"] == 2  # ops and chat
    before = await commandstats(raw_redis)
    await replica.trim()
    assert (await commandstats(raw_redis))["hscan"] - before["hscan"] == 0

    entries = await replica.read("ops", 10, 0.1)
    await replica.schedule_retry("ops", entries, STATE)
    await replica.ack("ops", entries)
    before = await commandstats(raw_redis)
    await replica.trim()
    after = await commandstats(raw_redis)
    assert after["hscan"] - before["hscan"] == 1  # ops only
    assert after["xpending"] - before["xpending"] == 0  # the ack had forgotten it already
    before = await commandstats(raw_redis)
    await replica.trim()
    assert (await commandstats(raw_redis))["hscan"] - before["hscan"] == 0


async def test_the_sweep_forgets_only_a_state_unchanged_since_it_was_read(
    raw_redis: aioredis.Redis,
) -> None:
    """Between the sweep's scan and its delete, a delivery may save a new attempt's state: that
    one must stay (else the entry's schedule would start over)."""
    forget = raw_redis.register_script(FORGET_RETRIES)
    retries = keys.sink_retries("ops")
    await raw_redis.hset(retries, mapping={"evt_a": "read", "evt_b": "read"})
    await raw_redis.hset(retries, "evt_b", "rewritten by a new attempt")
    forgotten = await forget(keys=[retries], args=["evt_a", "read", "evt_b", "read"])
    assert forgotten == 1
    assert await raw_redis.hgetall(retries) == {b"evt_b": b"rewritten by a new attempt"}
