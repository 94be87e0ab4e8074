"""Delivery against the store's bad days and bookkeeping: acknowledgements during an outage,
the ``outbox_pending`` gauge, and trimming the Redis outbox only of what every sink has."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from monitor.core.errors import StaleStateError, StoreError
from monitor.core.secret import Secret
from monitor.delivery.backlog import update_backlogs
from monitor.delivery.dispatch import SinkRunner
from monitor.delivery.sinks import ConsoleSink
from monitor.observe.metrics import Metrics
from monitor.store.redis import keys
from monitor.store.redis.store import RedisStore
from tests.support.delivery_helpers import (
    StoreFactory,
    WrappedStore,
    backlog_is,
    eventually,
    fast_config,
    open_outbox,
    running_sink,
    started,
)
from tests.support.receiver import Receiver
from tests.support.service import webhook_config

DELIVERIES = "conference_monitor_deliveries_total"


async def test_a_store_outage_during_ack_neither_resends_nor_loses(
    make_store: StoreFactory,
) -> None:
    store = WrappedStore(await open_outbox(make_store))
    first = started("main", 1, 2)
    await store.commit("main", 0, first)
    store.ack_down = True

    async with (
        Receiver() as hook,
        aiohttp.ClientSession() as http,
        running_sink(fast_config(hook.url), store, http) as run,
    ):
        await hook.wait_for(2)
        await eventually(lambda: store.log.failed_acks >= 10)
        assert await store.backlog("ops") == 2  # delivered, not yet acknowledged
        failed = store.log.failed_acks
        await eventually(lambda: store.log.failed_acks >= failed + 10)  # many more meanwhile
        store.ack_down = False
        await backlog_is(store, 0)
        await run.finish()

    assert len(hook.requests) == 2  # each event was POSTed exactly once
    assert sorted(e for e, _ in store.log.acked) == sorted(e.id for e in first.events)
    assert run.sample(DELIVERIES) == 2


async def test_a_few_failed_acks_are_retried(make_store: StoreFactory) -> None:
    store = WrappedStore(await open_outbox(make_store), ack_failures=3)
    first = started("main", 1)
    await store.commit("main", 0, first)

    async with (
        Receiver() as hook,
        aiohttp.ClientSession() as http,
        running_sink(fast_config(hook.url), store, http) as run,
    ):
        await backlog_is(store, 0)
        await run.finish()

    assert store.log.failed_acks == 3
    assert [r.event_id for r in hook.requests] == [first.events[0].id]
    assert [e for e, _ in store.log.acked] == [first.events[0].id]


async def test_update_backlogs_sets_outbox_pending(make_store: StoreFactory) -> None:
    store = await open_outbox(make_store, "ops", "chat")
    await store.commit("main", 0, started("main", 1, 2, 3))
    metrics = Metrics(["main"], ["ops", "chat"])
    runners = [
        SinkRunner(
            ConsoleSink(name), webhook_config("http://127.0.0.1:9/", name=name), store, metrics
        )
        for name in ("ops", "chat")
    ]

    def pending(sink: str) -> float | None:
        return metrics.registry.get_sample_value(
            "conference_monitor_outbox_pending", {"sink": sink}
        )

    assert (pending("ops"), pending("chat")) == (0, 0)
    await update_backlogs([r.name for r in runners], store, metrics)
    assert (pending("ops"), pending("chat")) == (3, 3)

    entries = await store.read("ops", 10, 0.1)
    await update_backlogs([r.name for r in runners], store, metrics)
    assert pending("ops") == 3  # read is not acknowledged
    await store.ack("ops", entries[:2])
    await update_backlogs([r.name for r in runners], store, metrics)
    assert (pending("ops"), pending("chat")) == (1, 3)


# RedisStore.trim


async def two_sinks(redis_url: str) -> RedisStore:
    store = RedisStore.from_url(Secret(redis_url), consumer="replica-a")
    await store.open_outbox(["ops", "chat"], ["main", "other"])
    await store.commit("main", 0, started("main", 1, 2, 3, 4, 5))
    await store.commit("other", 0, started("other", 9))
    return store


async def test_trim_removes_what_every_sink_acknowledged(
    redis_url: str, raw_redis: aioredis.Redis
) -> None:
    store = await two_sinks(redis_url)
    try:
        assert await raw_redis.xlen(keys.outbox("main")) == 5
        assert await store.trim() == 0  # nobody has anything yet
        for sink in ("ops", "chat"):
            await store.ack(sink, await store.read(sink, 100, 0.1))
        assert await store.trim() == 6
        assert await raw_redis.xlen(keys.outbox("main")) == 0
        assert await raw_redis.xlen(keys.outbox("other")) == 0
        assert await store.backlog("ops") == 0
        assert await store.backlog("chat") == 0

        # The outbox goes on working after a trim.
        loaded = await store.load("main")
        await store.commit("main", loaded.version, started("main", 7))
        assert [e.source for e in await store.read("chat", 10, 0.1)] == ["main"]
        assert await store.backlog("chat") == 1
    finally:
        await store.close()


async def test_trim_keeps_what_a_sink_still_needs(
    redis_url: str, raw_redis: aioredis.Redis
) -> None:
    store = await two_sinks(redis_url)
    try:
        await store.ack("ops", await store.read("ops", 100, 0.1))
        read = await store.read("chat", 100, 0.1)
        chat = [e for e in read if e.source == "main"]
        await store.ack("chat", [e for e in read if e.source == "other"])
        await store.ack("chat", chat[:2])  # chat still owes entries 3..5 of main

        assert await store.trim() == 3  # main's first two, and other's one
        assert await raw_redis.xlen(keys.outbox("main")) == 3
        assert await raw_redis.xlen(keys.outbox("other")) == 0
        assert await store.backlog("chat") == 3

        # A restarted chat gets exactly its three unacknowledged entries, bodies intact.
        restarted = RedisStore.from_url(Secret(redis_url), consumer="replica-a")
        try:
            await restarted.open_outbox(["ops", "chat"], ["main", "other"])
            again = await restarted.read("chat", 100, 0.1)
            assert [(e.event_id, e.body) for e in again] == [(e.event_id, e.body) for e in chat[2:]]
        finally:
            await restarted.close()
    finally:
        await store.close()


async def test_trim_keeps_entries_a_sink_has_not_read(
    redis_url: str, raw_redis: aioredis.Redis
) -> None:
    store = await two_sinks(redis_url)
    try:
        await store.ack("ops", await store.read("ops", 100, 0.1))
        assert await store.trim() == 0  # chat has read nothing yet
        assert await raw_redis.xlen(keys.outbox("main")) == 5
        entries = await store.read("chat", 100, 0.1)
        assert len(entries) == 6
        await store.ack("chat", entries[:1])
        assert await store.trim() == 1
        assert await store.backlog("chat") == 5
    finally:
        await store.close()


async def test_memory_store_trim_is_a_no_op(make_store: StoreFactory) -> None:
    store = await open_outbox(make_store)
    await store.commit("main", 0, started("main", 1))
    assert await store.backlog("ops") == 1
    await store.trim()
    assert await store.backlog("ops") == 1  # trimming never drops an unacknowledged entry


async def test_a_replaced_replicas_pending_entries_are_reclaimed(
    redis_url: str, raw_redis: aioredis.Redis
) -> None:
    gone = RedisStore.from_url(Secret(redis_url), consumer="pod-old")
    await gone.open_outbox(["ops"], ["main"])
    first = started("main", 1, 2)
    await gone.commit("main", 0, first)
    entries = await gone.read("ops", 10, 0.1)  # in flight when the pod died
    await gone.close()
    # Make them look stuck for an hour, past any sensible reclaim threshold.
    stream = keys.outbox("main")
    ids: list[Any] = [e.entry_id for e in entries]
    await raw_redis.xclaim(stream, "ops", "pod-old", 0, ids, idle=3_600_000)

    successor = RedisStore.from_url(Secret(redis_url), consumer="pod-new")  # a new pod name
    await successor.open_outbox(["ops"], ["main"])
    try:
        async with (
            Receiver() as hook,
            aiohttp.ClientSession() as http,
            running_sink(fast_config(hook.url), successor, http) as run,
        ):
            delivered = await hook.wait_for(2, within=2.5)
            await run.finish()
        assert sorted(r.event_id for r in delivered) == sorted(e.id for e in first.events)
    finally:
        await successor.close()


async def test_adopting_a_sink_takes_every_pending_entry_and_forgets_idle_consumers(
    redis_url: str, raw_redis: aioredis.Redis
) -> None:
    """A replica that takes a sink's lease over owns its in-flight entries at once (no idle
    wait), and the consumers of replicas gone before it do not pile up in the group."""
    stream = keys.outbox("main")
    old = [RedisStore.from_url(Secret(redis_url), consumer=f"pod-{n}") for n in ("a", "b")]
    heir = RedisStore.from_url(Secret(redis_url), consumer="pod-heir")
    try:
        for store in (*old, heir):
            await store.open_outbox(["ops"], ["main"])
        batch = started("main", 1, 2, 3)
        await old[0].commit("main", 0, batch)
        assert len(await old[0].read("ops", 2, 0.1)) == 2  # pod-a dies with two entries read,
        assert len(await old[1].read("ops", 10, 0.1)) == 1  # pod-b with the third

        assert await heir.adopt("ops") == 3
        pending: Any = await raw_redis.xpending_range(stream, "ops", "-", "+", 10)
        assert {p["consumer"] for p in pending} == {b"pod-heir"}
        consumers: Any = await raw_redis.xinfo_consumers(stream, "ops")
        assert [c["name"] for c in consumers] == [b"pod-heir"]
        redelivered = await heir.read("ops", 10, 0.1)
        assert sorted(e.event_id for e in redelivered) == sorted(e.id for e in batch.events)
    finally:
        for store in (*old, heir):
            await store.close()


async def test_entries_kept_by_a_live_consumer_are_not_reclaimed(
    redis_url: str, raw_redis: aioredis.Redis
) -> None:
    busy = RedisStore.from_url(Secret(redis_url), consumer="pod-busy")
    other = RedisStore.from_url(Secret(redis_url), consumer="pod-other")
    try:
        await busy.open_outbox(["ops"], ["main"])
        await other.open_outbox(["ops"], ["main"])
        await busy.commit("main", 0, started("main", 1))
        entries = await busy.read("ops", 10, 0.1)  # a long retry: idle for an hour ...
        ids: list[Any] = [e.entry_id for e in entries]
        await raw_redis.xclaim(keys.outbox("main"), "ops", "pod-busy", 0, ids, idle=3_600_000)
        await busy.keep("ops", entries)  # ... but its consumer says it is still alive
        assert await other.read("ops", 10, 0.1) == []
        pending: Any = await raw_redis.xpending_range(keys.outbox("main"), "ops", "-", "+", 10)
        assert [p["consumer"] for p in pending] == [b"pod-busy"]
    finally:
        await busy.close()
        await other.close()


async def test_trim_is_not_held_back_by_a_sink_no_longer_configured(
    redis_url: str, raw_redis: aioredis.Redis
) -> None:
    before = RedisStore.from_url(Secret(redis_url), consumer="c")
    try:
        await before.open_outbox(["ops", "retired"], ["main"])
        await before.commit("main", 0, started("main", 1, 2))
    finally:
        await before.close()
    after = RedisStore.from_url(Secret(redis_url), consumer="c")  # "retired" left the config
    try:
        await after.open_outbox(["ops"], ["main"])
        await after.ack("ops", await after.read("ops", 10, 0.1))
        assert await after.trim() == 2
        assert await raw_redis.xlen(keys.outbox("main")) == 0
    finally:
        await after.close()


async def test_an_outbox_that_redis_lost_is_delivered_again(
    redis_url: str, raw_redis: aioredis.Redis
) -> None:
    """Redis restarted without persistence: state, stream and groups are gone. What is
    committed afterwards must still reach every sink, across a restart of the process too."""
    store = RedisStore.from_url(Secret(redis_url), consumer="c")
    try:
        await store.open_outbox(["ops"], ["main"])
        await store.commit("main", 0, started("main", 1))
        assert len(await store.read("ops", 10, 0.1)) == 1
        await raw_redis.flushall()
        with pytest.raises(StaleStateError):
            await store.commit("main", 1, started("main", 1))
        assert (await store.load("main")).version == 0
        lost = started("main", 2)
        await store.commit("main", 0, lost)  # the stream comes back with the event in it
    finally:
        await store.close()
    restarted = RedisStore.from_url(Secret(redis_url), consumer="c")
    try:
        await restarted.open_outbox(["ops"], ["main"])  # creates missing groups at the end...
        entries = []
        for _ in range(3):
            entries += await restarted.read("ops", 10, 0.1)
        # ... but the commit had already made the group, from the start of the stream.
        assert [e.event_id for e in entries] == [lost.events[0].id]
    finally:
        await restarted.close()


async def test_a_read_recreates_groups_redis_lost(
    redis_url: str, raw_redis: aioredis.Redis
) -> None:
    store = RedisStore.from_url(Secret(redis_url), consumer="c")
    try:
        await store.open_outbox(["ops"], ["main"])
        assert await store.read("ops", 10, 0.05) == []
        await raw_redis.flushall()
        await raw_redis.xadd(
            keys.outbox("main"), {"id": "evt_x", "type": "t", "key": "k", "body": "{}"}
        )
        assert await store.read("ops", 10, 0.05) == []  # NOGROUP: groups come back from 0
        assert [e.event_id for e in await store.read("ops", 10, 0.05)] == ["evt_x"]
    finally:
        await store.close()


async def test_corrupt_stored_state_is_a_store_error(
    redis_url: str, raw_redis: aioredis.Redis
) -> None:
    store = RedisStore.from_url(Secret(redis_url), consumer="c")
    try:
        await raw_redis.hset(keys.tracked("main"), "1", "{not json")
        with pytest.raises(StoreError, match="main"):
            await store.load("main")
    finally:
        await store.close()
