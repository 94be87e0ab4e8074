"""Deliver for a sink only while this replica holds the sink's lease.

With several replicas, one of them delivers for each sink at a time, so the events of one
conference keep their order and the sink's pace holds across replicas (invariant 8). When this
replica takes the lease, it first adopts every entry of the sink still pending with another
consumer (a replica that died, or handed the sink over), then runs a fresh ``SinkRunner`` until
the lease moves away or the service stops.

A former holder can still take entries after its lease has gone: a read that was blocking in
Redis across the handover (a paused replica's, or one whose cancellation has not reached Redis)
takes them into its own pending list, where nobody would deliver them until they had been idle
for ``claim_idle``. A runner sends a read only while its lease is trusted (``holding``), and a
read blocks in Redis for ``read_wait`` at most, so every such stray exists ``adopt_after`` after
this replica took the lease: the holder looks once then (one ``XPENDING`` per stream) and adopts
them. Looking every few seconds instead cost one command per source every 5 s, for nothing at
all but after a handover. A stray whose read was delayed longer still (a network that held the
command back) is reclaimed like a silent consumer's entries, within ``claim_idle`` +
``claim_every`` (``store.redis.outbox``). All of these are ``Timings``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from monitor.core.aio import first
from monitor.core.errors import StoreError
from monitor.core.lease_name import LeaseName
from monitor.core.timings import PRODUCTION, Timings
from monitor.delivery.dispatch import SinkRunner
from monitor.replicas.leases import LeaseKeeper
from monitor.store.roles import Deliveries

log = structlog.get_logger("monitor.delivery.supervise")


async def deliver_while_held(
    sink: str,
    *,
    leases: LeaseKeeper,
    store: Deliveries,
    make_runner: Callable[[], SinkRunner],
    running: list[SinkRunner],
    stop: asyncio.Event,
    grace: float,
    timings: Timings = PRODUCTION,
) -> None:
    """Run ``sink``'s deliveries on every turn this replica holds its lease, until ``stop``."""
    lease = LeaseName.sink(sink)
    while await leases.wait_for(lease, stop):
        if not await _adopt(sink, store, stop, timings.store_retry):
            return
        runner = make_runner()
        running.append(runner)
        lost = asyncio.Event()  # the lease went away, or the service stops
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(_watch(lease, leases, stop, lost, timings.watch_every))
                group.create_task(_adopt_strays(sink, store, lost, timings))
                await runner.run(lost, grace, holding=lambda: leases.holds(lease))
                lost.set()
        finally:
            running.remove(runner)


async def _adopt(sink: str, store: Deliveries, stop: asyncio.Event, retry: float) -> bool:
    """Take over the sink's pending entries, retrying while the store is away."""
    while not stop.is_set():
        try:
            adopted = await store.adopt(sink)
        except StoreError as exc:
            log.warning("sink_adopt_failed", sink=sink, error=str(exc))
            await first(asyncio.sleep(retry), stop.wait())
        else:
            if adopted:
                log.info("sink_entries_adopted", sink=sink, entries=adopted)
            return True
    return False


async def _watch(
    lease: LeaseName, leases: LeaseKeeper, stop: asyncio.Event, lost: asyncio.Event, every: float
) -> None:
    while not lost.is_set():
        if stop.is_set() or not leases.holds(lease):
            lost.set()
            return
        await first(asyncio.sleep(every), stop.wait(), lost.wait())


async def _adopt_strays(
    sink: str, store: Deliveries, lost: asyncio.Event, timings: Timings
) -> None:
    """Once the lease has been held ``adopt_after``: adopt what another consumer read after its
    lease had gone (again a little later while the store fails)."""
    wait = timings.adopt_after
    while not lost.is_set():
        await first(asyncio.sleep(wait), lost.wait())
        if lost.is_set():
            return
        try:
            if await store.strays(sink):
                log.info("sink_entries_adopted", sink=sink, entries=await store.adopt(sink))
        except StoreError as exc:
            log.debug("sink_adopt_failed", sink=sink, error=str(exc))
            wait = timings.store_retry
        else:
            return
