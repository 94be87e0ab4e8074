"""What an idle delivery side costs Redis: the outbox gauges come from the runner's own counts
while it keeps up, trimming skips outboxes nothing was acknowledged on, reads block long and
still stop at once, and a runner that no longer trusts its lease sends no further read."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis.asyncio as aioredis

from monitor.core.secret import Secret
from monitor.core.timings import Timings
from monitor.delivery.backlog import OutboxGauges
from monitor.delivery.dispatch import SinkRunner
from monitor.delivery.sinks.webhook import WebhookSink
from monitor.observe.metrics import Metrics
from monitor.store.redis import keys
from monitor.store.redis.store import RedisStore
from monitor.store.roles import Store
from monitor.store.values import OutboxEntry
from tests.support.delivery_helpers import (
    commandstats,
    eventually,
    fast_config,
    running_sink,
    started,
)
from tests.support.receiver import Receiver
from tests.support.store_wrappers import PassThroughStore
from tests.support.timings import QUICK


class CountingStore(PassThroughStore):
    """Counts the outbox calls that cost the store one command per stream."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.calls: Counter[str] = Counter()

    async def read(self, sink: str, count: int, wait: float) -> list[OutboxEntry]:
        self.calls["read"] += 1
        return await self.inner.read(sink, count, wait)

    async def backlog(self, sink: str) -> int:
        self.calls["backlog"] += 1
        return await self.inner.backlog(sink)

    async def count_dead(self, sink: str) -> int:
        self.calls["count_dead"] += 1
        return await self.inner.count_dead(sink)


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[CountingStore]:
    inner = RedisStore.from_url(Secret(redis_url), consumer="replica-a")
    await inner.open_outbox(["ops"], ["north", "south"])
    yield CountingStore(inner)
    await inner.close()


def pending(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("conference_monitor_outbox_pending", {"sink": "ops"})


def dead(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("conference_monitor_dead_letters", {"sink": "ops"})


async def test_a_caught_up_runner_gives_the_backlog_without_asking_the_store(
    store: CountingStore, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    hook.down = True  # deliveries fail: the entries stay in flight, waiting for their retry
    await store.commit("north", 0, started("north", 1, 2))
    async with running_sink(fast_config(hook.url), store, http) as run:
        gauges = OutboxGauges(["ops"], store, run.metrics)
        await eventually(lambda: run.runner.inflight == 2 and run.runner.caught_up)
        for _ in range(3):
            await gauges.refresh([run.runner])
        assert pending(run.metrics) == 2
        assert store.calls["backlog"] == 0
        assert store.calls["count_dead"] == 1  # once, then every measure_every

        hook.down = False
        await eventually(lambda: run.runner.inflight == 0)
        await gauges.refresh([run.runner])
        assert pending(run.metrics) == 0
        assert store.calls["backlog"] == 0
        await run.finish()


async def test_a_sink_behind_or_without_a_runner_is_measured_in_the_store_now_and_then(
    store: CountingStore,
) -> None:
    await store.commit("north", 0, started("north", 1, 2, 3))
    metrics = Metrics(["north", "south"], ["ops"])
    every = 0.2
    gauges = OutboxGauges(["ops"], store, metrics, timings=Timings.for_tests(measure_every=every))
    await gauges.refresh([])
    await gauges.refresh([])
    assert pending(metrics) == 3
    assert store.calls["backlog"] == 1  # not again within measure_every

    await store.commit("south", 0, started("south", 4))
    await asyncio.sleep(every)
    await gauges.refresh([])
    assert pending(metrics) == 4
    assert store.calls["backlog"] == 2


async def test_a_sink_another_replica_delivers_for_shows_nothing_here(
    store: CountingStore,
) -> None:
    await store.commit("north", 0, started("north", 1, 2, 3))
    metrics = Metrics(["north", "south"], ["ops"])
    gauges = OutboxGauges(["ops"], store, metrics, elsewhere=lambda sink: sink == "ops")
    await gauges.refresh([])
    assert pending(metrics) == 0  # the replica delivering for it reports it
    assert store.calls["backlog"] == 0


async def test_dead_letters_are_counted_again_as_soon_as_the_runner_buries_one(
    store: CountingStore, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    async with running_sink(fast_config(hook.url), store, http) as run:
        gauges = OutboxGauges(["ops"], store, run.metrics)
        await gauges.refresh([run.runner])
        assert (dead(run.metrics), store.calls["count_dead"]) == (0, 1)
        hook.down, hook.fail_status = True, 422  # rejected: dead-lettered at once
        await store.commit("north", 0, started("north", 1))
        await eventually(lambda: run.runner.buried == 1)
        await gauges.refresh([run.runner])
        assert (dead(run.metrics), store.calls["count_dead"]) == (1, 2)
        await gauges.refresh([run.runner])
        assert store.calls["count_dead"] == 2
        await run.finish()


TRIMS = "xinfo|groups"  # the TRIM script asks each outbox it trims for its groups


async def test_only_outboxes_with_acknowledgements_since_the_last_trim_are_trimmed(
    store: CountingStore, raw_redis: aioredis.Redis
) -> None:
    await store.commit("north", 0, started("north", 1, 2))
    await store.commit("south", 0, started("south", 3))
    before = await commandstats(raw_redis)
    assert await store.trim() == 0  # once after opening: what the last run acknowledged
    assert (await commandstats(raw_redis))[TRIMS] - before[TRIMS] == 2

    entries = await store.read("ops", 10, 0.1)
    await store.ack("ops", [e for e in entries if e.source == "north"])
    before = await commandstats(raw_redis)
    assert await store.trim() == 2
    assert (await commandstats(raw_redis))[TRIMS] - before[TRIMS] == 1  # north only
    before = await commandstats(raw_redis)
    assert await store.trim() == 0
    assert (await commandstats(raw_redis))[TRIMS] - before[TRIMS] == 0  # idle: nothing
    assert await raw_redis.xlen(keys.outbox("south")) == 1  # unacknowledged: kept


async def test_a_long_read_is_cut_short_by_a_stop(
    store: CountingStore, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    real = Timings().read_wait
    assert real >= 5  # the real wait: an idle sink reads once every 5 s
    reads = Timings.for_tests(read_wait=real)
    async with running_sink(fast_config(hook.url), store, http, timings=reads) as run:
        await eventually(lambda: store.calls["read"] >= 1)
        await asyncio.sleep(0.2)  # no signal marks "not polling": a polling loop reads meanwhile
        assert store.calls["read"] == 1  # blocking in Redis, not polling
        took = await run.finish()
    assert took < 0.5


async def test_a_runner_that_no_longer_trusts_its_lease_reads_no_more(
    store: CountingStore, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    config = fast_config(hook.url)
    metrics = Metrics(["north", "south"], ["ops"])
    runner = SinkRunner(WebhookSink(config, http), config, store, metrics, timings=QUICK)
    trusted = [True]
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop, 1.0, holding=lambda: trusted[0]))
    try:
        await store.commit("north", 0, started("north", 1))
        await hook.wait_for(1)
        trusted[0] = False
        await asyncio.wait_for(task, 2)  # it stops by itself
        reads = store.calls["read"]
        await store.commit("north", 1, started("north", 2))
        await asyncio.sleep(0.2)  # the runner returned: only a stray task could read meanwhile
        assert store.calls["read"] == reads
        assert len(hook.requests) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 2)
