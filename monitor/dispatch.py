"""Delivery: feed each sink from the outbox until every event is acknowledged.

One ``SinkRunner`` per sink reads committed entries from the store and hands them to a fixed set
of lanes; an entry's lane is chosen by its conference key, so the events of one conference reach
a sink in order (started before ended) while different conferences go out concurrently. An
entry is acknowledged, and so leaves the outbox, only after a 2xx (invariant 2); until then it
is retried with jittered exponential backoff, honouring ``Retry-After``. Acknowledgements are
batched: one store round trip settles every delivery that finished meanwhile.

On stop the runner reads no more, lets attempts in flight finish under a deadline, abandons
retries that are waiting, and leaves everything unacknowledged pending for the next start.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections.abc import Awaitable, Sequence
from typing import Final

import structlog

from monitor.config import SinkConfig
from monitor.errors import StoreError
from monitor.metrics import Metrics
from monitor.sinks import Attempt, Sink
from monitor.store import STORE_RETRY, OutboxEntry, Store

log = structlog.get_logger("monitor.dispatch")

RETRY_BASE: Final = 1.0
RETRY_CAP: Final = 60.0
RETRY_AFTER_CAP: Final = 3600.0  # a receiver's Retry-After is honoured up to an hour
READ_WAIT: Final = 1.0  # seconds a read blocks; bounds how late a stop is noticed
KEEP_EVERY: Final = 15.0  # well inside the store's claim idle time
ENTRIES_PER_LANE: Final = 16  # read-ahead: how many entries may wait per lane


class SinkRunner:
    def __init__(
        self,
        sink: Sink,
        config: SinkConfig,
        store: Store,
        metrics: Metrics,
        *,
        rng: random.Random | None = None,
        retry_base: float = RETRY_BASE,
        retry_cap: float = RETRY_CAP,
    ) -> None:
        self.name = config.name
        self._sink = sink
        self._config = config
        self._store = store
        self._metrics = metrics
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._lanes: list[asyncio.Queue[OutboxEntry]] = [
            asyncio.Queue() for _ in range(config.concurrency)
        ]
        self._capacity = ENTRIES_PER_LANE * config.concurrency
        self._inflight: dict[str, OutboxEntry] = {}  # read and not yet settled
        self._to_ack: list[OutboxEntry] = []
        self._ack_waiting = asyncio.Event()
        self._room = asyncio.Event()  # set whenever an entry is settled
        self._idle = asyncio.Event()  # set whenever nothing is in flight
        self._idle.set()
        self._stop = asyncio.Event()  # replaced by run()'s
        self._stopping = asyncio.Event()  # once set, a failed attempt is not retried here
        self.failing: str | None = None  # the last failure while it lasts, for logs and health
        self.heartbeat = time.monotonic()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def run(self, stop: asyncio.Event, grace: float) -> None:
        self._stop = stop
        async with asyncio.TaskGroup() as group:
            helpers = [group.create_task(self._work(lane)) for lane in self._lanes]
            helpers.append(group.create_task(self._acknowledge()))
            helpers.append(group.create_task(self._keep_claimed(stop)))
            await self._feed(stop)
            self._stopping.set()
            await self._drain(grace)
            for task in helpers:
                task.cancel()

    async def _feed(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.heartbeat = time.monotonic()
            room = self._capacity - len(self._inflight)
            if room < self._capacity // 2:  # read in batches, not one entry per settlement
                self._room.clear()
                await _first(self._room.wait(), stop.wait(), asyncio.sleep(READ_WAIT))
                continue
            try:
                entries = await self._store.read(self.name, room, READ_WAIT)
            except StoreError as exc:
                log.warning("outbox_read_failed", sink=self.name, error=str(exc))
                await _first(asyncio.sleep(STORE_RETRY), stop.wait())
                continue
            for entry in entries:
                self._accept(entry)

    def _accept(self, entry: OutboxEntry) -> None:
        if entry.entry_id in self._inflight:  # already on its way (a re-read after a claim)
            return
        self._inflight[entry.entry_id] = entry
        self._idle.clear()
        lane = zlib.crc32(entry.key.encode()) % len(self._lanes)
        self._lanes[lane].put_nowait(entry)

    def _settle(self, entry: OutboxEntry) -> None:
        self._inflight.pop(entry.entry_id, None)
        self._room.set()
        if not self._inflight:
            self._idle.set()

    async def _drain(self, grace: float) -> None:
        if not self._inflight:
            return
        log.info("delivery_draining", sink=self.name, inflight=len(self._inflight))
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
        except TimeoutError:
            log.warning("delivery_drain_timeout", sink=self.name, left=len(self._inflight))

    async def _work(self, lane: asyncio.Queue[OutboxEntry]) -> None:
        while True:
            entry = await lane.get()
            await self._deliver(entry)

    async def _deliver(self, entry: OutboxEntry) -> None:
        if entry.type not in self._config.events:  # filtered out: done with, unsent
            self._ack(entry)
            return
        failures = 0
        while True:
            started = time.perf_counter()
            attempt = await self._sink.send(entry)
            self._metrics.delivery_duration.labels(self.name).observe(time.perf_counter() - started)
            if attempt.delivered:
                self._metrics.deliveries.labels(self.name).inc()
                self._recovered()
                self._ack(entry)
                return
            failures += 1
            self._failed(entry, attempt)
            await _first(asyncio.sleep(self._delay(failures, attempt)), self._stopping.wait())
            if self._stopping.is_set():  # stays pending in the store: retried after restart
                self._settle(entry)
                return

    def _delay(self, failures: int, attempt: Attempt) -> float:
        """Jittered exponential backoff, or longer when the receiver asked for it."""
        ceiling = min(self._retry_cap, self._retry_base * 2.0 ** (failures - 1))
        asked = min(attempt.retry_after or 0.0, RETRY_AFTER_CAP)
        return max(self._rng.uniform(0.5, 1.0) * ceiling, asked)

    def _failed(self, entry: OutboxEntry, attempt: Attempt) -> None:
        reason = attempt.failure or "rejected"
        self._metrics.delivery_failures.labels(self.name, reason).inc()
        if self.failing != reason:  # log transitions, not every retry
            log.warning(
                "delivery_failing",
                sink=self.name,
                reason=reason,
                detail=attempt.detail,
                event_id=entry.event_id,
            )
        self.failing = reason

    def _recovered(self) -> None:
        if self.failing is not None:
            log.info("delivery_recovered", sink=self.name)
        self.failing = None

    def _ack(self, entry: OutboxEntry) -> None:
        self._to_ack.append(entry)
        self._ack_waiting.set()

    async def _acknowledge(self) -> None:
        """Acknowledge finished deliveries in batches, retrying while the store is away.

        A lost acknowledgement only means a duplicate later; after stop, one the store refuses
        is left undone (the entry stays pending) rather than holding up the stop.
        """
        failed = False
        while True:
            await self._ack_waiting.wait()
            batch, self._to_ack = self._to_ack, []
            self._ack_waiting.clear()
            try:
                await self._store.ack(self.name, batch)
            except StoreError as exc:
                if not failed:
                    log.warning("outbox_ack_failed", sink=self.name, error=str(exc))
                failed = True
                if not self._stop.is_set():
                    self._to_ack[:0] = batch
                    self._ack_waiting.set()
                    await _first(asyncio.sleep(STORE_RETRY), self._stop.wait())
                    continue
                log.warning("outbox_ack_abandoned", sink=self.name, entries=len(batch))
            else:
                if failed:
                    log.info("outbox_ack_recovered", sink=self.name)
                failed = False
            for entry in batch:
                self._settle(entry)

    async def _keep_claimed(self, stop: asyncio.Event) -> None:
        """Tell the store, now and then, that the entries in flight here are still ours, so that
        a long retry is not mistaken for a dead replica's leftovers and delivered twice."""
        while not stop.is_set():
            await _first(asyncio.sleep(KEEP_EVERY), stop.wait())
            if self._inflight and not stop.is_set():
                try:
                    await self._store.keep(self.name, list(self._inflight.values()))
                except StoreError as exc:
                    log.debug("outbox_keep_failed", sink=self.name, error=str(exc))


async def _first(*waits: Awaitable[object]) -> None:
    """Wait until the first of several awaitables finishes; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def update_backlogs(runners: Sequence[SinkRunner], store: Store, metrics: Metrics) -> None:
    """Refresh ``outbox_pending`` for every sink."""
    for runner in runners:
        metrics.outbox_pending.labels(runner.name).set(await store.backlog(runner.name))
