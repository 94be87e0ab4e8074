"""Entries a former sink holder read after its lease had gone are delivered by the new holder
within seconds, not after the minute an idle claim waits (found by the chaos suite: a blocking
read that spanned the handover left an event stranded with a live replica that no longer
delivered for the sink)."""

from __future__ import annotations

import asyncio

import aiohttp

from monitor.core.lease_name import LeaseName
from monitor.core.secret import Secret
from monitor.core.timings import Timings
from monitor.delivery import supervise
from monitor.delivery.dispatch import SinkRunner
from monitor.delivery.sinks.webhook import WebhookSink
from monitor.observe.metrics import Metrics
from monitor.replicas.leases import LeaseKeeper
from monitor.store.redis.store import RedisStore
from monitor.store.roles import Store
from monitor.store.values import OutboxEntry
from tests.support.delivery_helpers import fast_config, started
from tests.support.receiver import Receiver
from tests.support.store_wrappers import PassThroughStore


async def test_strays_are_the_entries_pending_with_other_consumers(redis_url: str) -> None:
    former = RedisStore.from_url(Secret(redis_url), consumer="former")
    holder = RedisStore.from_url(Secret(redis_url), consumer="holder")
    try:
        for store in (former, holder):
            await store.open_outbox(["ops"], ["main"])
        await holder.commit("main", 0, started("main", 1, 2, 3))
        assert len(await former.read("ops", 2, 0.1)) == 2
        assert len(await holder.read("ops", 10, 0.1)) == 1
        assert await holder.strays("ops") == 2  # its own pending entry is not a stray
        assert await former.strays("ops") == 1
    finally:
        for store in (former, holder):
            await store.close()


class GatedReads(PassThroughStore):
    """Reads wait at a gate: the former holder's read wins the race, deterministically."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.reading = asyncio.Event()
        self.gate = asyncio.Event()

    async def read(self, sink: str, count: int, wait: float) -> list[OutboxEntry]:
        self.reading.set()
        await self.gate.wait()
        return await self.inner.read(sink, count, wait)


async def test_the_holder_adopts_what_a_former_holder_read_after_the_handover(
    redis_url: str,
) -> None:
    timings = Timings.for_tests(adopt_margin=0.15)  # looks for strays 0.2 s after taking over
    former = RedisStore.from_url(Secret(redis_url), consumer="former")
    holder = GatedReads(RedisStore.from_url(Secret(redis_url), consumer="holder"))
    stop = asyncio.Event()
    async with Receiver() as hook, aiohttp.ClientSession() as http:
        config = fast_config(hook.url)
        metrics = Metrics(["main"], ["ops"])
        leases = LeaseKeeper(holder, "holder", [LeaseName.sink("ops")], 3.0, metrics)
        for store in (former, holder):
            await store.open_outbox(["ops"], ["main"])
        await leases.check()  # the holder takes the sink's lease
        delivering = asyncio.create_task(
            supervise.deliver_while_held(
                "ops",
                leases=leases,
                store=holder,
                make_runner=lambda: SinkRunner(
                    WebhookSink(config, http), config, holder, metrics, timings=timings
                ),
                running=[],
                stop=stop,
                grace=1.0,
                timings=timings,
            )
        )
        try:
            await asyncio.wait_for(holder.reading.wait(), 5)  # adopted (nothing yet), reading
            batch = started("main", 1)
            await holder.commit("main", 0, batch)
            # The former holder's read, blocked across the handover, takes the new entry.
            assert [e.event_id for e in await former.read("ops", 10, 0.1)] == [batch.events[0].id]
            holder.gate.set()
            delivered = await hook.wait_for(1, within=3)  # not after claim_idle (60 s)
            assert [r.event_id for r in delivered] == [batch.events[0].id]
            assert await holder.strays("ops") == 0
        finally:
            stop.set()
            holder.gate.set()
            await asyncio.wait_for(delivering, 5)
            await former.close()
            await holder.inner.close()
