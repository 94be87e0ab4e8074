"""Settling deliveries in the store: acknowledgements, dead letters, retry states, disabling.

Acknowledgements are batched: one round trip settles every delivery that finished within
``Timings.ack_gather`` of the first (a round trip per delivery cost more than the POST around it).
Writes that must land (acknowledgements, dead letters, a disabled sink) are retried while the
store is away, and given up only at stop: the entries then stay pending, and are delivered (or
dead-lettered) again after the next start, never lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import structlog

from monitor.core.aio import first
from monitor.core.errors import StoreError
from monitor.core.timings import PRODUCTION, Timings
from monitor.store.roles import Deliveries
from monitor.store.values import OutboxEntry, RetryState

log = structlog.get_logger("monitor.delivery.dispatch")


class Settler:
    def __init__(
        self,
        sink: str,
        store: Deliveries,
        settled: Callable[[OutboxEntry], None],
        beat: Callable[[], None],
        timings: Timings = PRODUCTION,
    ) -> None:
        self._sink = sink
        # Entries waiting for their acknowledgement stay pending in the store meanwhile (a
        # crash then repeats them: at least once).
        self._gather = timings.ack_gather
        self._retry = timings.store_retry
        self._store = store
        self.stop = asyncio.Event()  # the runner's stop: writes are given up only then
        self._beat = beat  # the runner is alive while it waits for the store
        self._settled = settled  # told once an entry is acknowledged or dead-lettered
        self._to_ack: list[OutboxEntry] = []
        self.acking = 0  # entries delivered and not yet settled (their acknowledgement is due)
        self._waiting = asyncio.Event()  # acknowledgements are waiting
        self._done = asyncio.Event()  # nothing is waiting or being written
        self._done.set()

    def ack(self, entry: OutboxEntry) -> None:
        self._to_ack.append(entry)
        self.acking += 1
        self._waiting.set()
        self._done.clear()

    async def run(self) -> None:
        while True:
            await self._waiting.wait()
            if not self.stop.is_set():
                await first(asyncio.sleep(self._gather), self.stop.wait())
            batch, self._to_ack = self._to_ack, []
            self._waiting.clear()
            if not await self.persist("acknowledging", self._acker(batch)):
                log.warning("outbox_ack_abandoned", sink=self._sink, entries=len(batch))
            self.acking -= len(batch)
            for entry in batch:
                self._settled(entry)
            if not self._to_ack:
                self._done.set()

    def _acker(self, batch: list[OutboxEntry]) -> Callable[[], Awaitable[object]]:
        return lambda: self._store.ack(self._sink, batch)

    async def flushed(self) -> None:
        """Until every acknowledgement handed over so far is written (or abandoned)."""
        await self._done.wait()

    async def bury(self, entries: Sequence[OutboxEntry], reason: str, attempts: int) -> None:
        """Move entries to the dead-letter queue; they are settled either way."""
        if await self.persist(
            "dead-lettering", lambda: self._store.dead_letter(self._sink, entries, reason, attempts)
        ):
            events = [entry.event_id for entry in entries]
            log.error("dead_lettered", sink=self._sink, events=events, reason=reason)
        for entry in entries:
            self._settled(entry)

    async def save_retry(self, entries: Sequence[OutboxEntry], state: RetryState) -> None:
        """Best effort: without it, a restart starts the schedule over (a retry sooner)."""
        try:
            await self._store.schedule_retry(self._sink, entries, state)
        except StoreError as exc:
            log.warning("retry_state_not_saved", sink=self._sink, error=str(exc))

    async def persist(self, action: str, write: Callable[[], Awaitable[object]]) -> bool:
        """Retry a store write while the store is away; give up (False) only at stop."""
        failed = False
        while True:
            try:
                await write()
            except StoreError as exc:
                if not failed:
                    log.warning(
                        "store_write_failed", sink=self._sink, action=action, error=str(exc)
                    )
                failed = True
                if self.stop.is_set():
                    return False
                self._beat()
                await first(asyncio.sleep(self._retry), self.stop.wait())
            else:
                if failed:
                    log.info("store_write_recovered", sink=self._sink, action=action)
                return True
