"""Delivery: feed each sink from the outbox until every event is delivered or dead-lettered.

One ``SinkRunner`` per sink. Entries read from the store pass the sink's filter, are rendered
into messages (one per event for webhooks; for chat sinks, the events of a ``group_wait``
window, as single messages or a digest) and queued by ordering key, where the runner's
``Sender`` (``sending``) attempts them and acts on each verdict: retries, dead letters, the
sink disabled. Entries leave the outbox only then (invariant 2); acknowledgements are batched.

On stop the runner reads no more, lets attempts in flight finish under a deadline, and leaves
everything else pending for the next start.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import structlog

from monitor.config.settings import SinkConfig
from monitor.core.aio import first
from monitor.core.errors import StoreError
from monitor.core.timings import PRODUCTION, Timings
from monitor.delivery.queue import KeyedQueue, Window, Work
from monitor.delivery.routes import Routes
from monitor.delivery.sending import Sender
from monitor.delivery.settle import Settler
from monitor.delivery.sink_filter import SinkFilter
from monitor.delivery.sink_switch import SinkSwitch
from monitor.delivery.sinks.base import Sink
from monitor.observe.metrics import Metrics
from monitor.store.roles import Deliveries
from monitor.store.values import OutboxEntry, SinkDisabled

log = structlog.get_logger("monitor.delivery.dispatch")

ENTRIES_PER_LANE: Final = 16  # read-ahead: how many entries may wait per lane
MAX_WAITING: Final = 10_000  # entries waiting for a retry before reading pauses
CHAT_KEY: Final = "chat"  # chat sinks keep one order for everything
CHAT_WINDOW: Final = 1_000  # events a chat sink may hold in one group_wait window


class SinkRunner:
    def __init__(
        self,
        sink: Sink,
        config: SinkConfig,
        store: Deliveries,
        metrics: Metrics,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        timings: Timings = PRODUCTION,
        routes: Routes | None = None,
    ) -> None:
        self.name = config.name
        self._timings = timings
        self._sink = sink
        self._config = config
        self._store = store
        self._queue = KeyedQueue(clock)
        self._filter = SinkFilter(config, routes)
        # Chat sinks hold a whole burst in their window, to show it as one digest.
        self._capacity = CHAT_WINDOW if config.type.chat else ENTRIES_PER_LANE * config.concurrency
        self._inflight: dict[str, OutboxEntry] = {}  # by ref: read and not yet settled
        self._detected: dict[str, float] = {}  # entry ref -> when the event was detected
        self._window = Window()  # chat sinks: the events waiting for their message
        self._room = asyncio.Event()  # set whenever an entry stops counting for read-ahead
        self._settler = Settler(self.name, store, self._settle, self._beat, timings)
        self._switch = SinkSwitch(self.name, config.url, store, metrics, clock)
        self._sender = Sender(
            sink,
            config,
            queue=self._queue,
            settler=self._settler,
            switch=self._switch,
            metrics=metrics,
            window=self._window,
            detected=self._detected,
            freed=self._freed,
            rng=rng or random.Random(),  # noqa: S311 - jitter, not cryptography
            clock=clock,
        )
        self.heartbeat = time.monotonic()
        # For the outbox gauges (``backlog.OutboxGauges``), without asking the store: the last
        # read found everything there was (so the backlog is what is in flight here).
        self.caught_up = False

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def disabled(self) -> SinkDisabled | None:
        return self._switch.disabled

    @property
    def failing(self) -> str | None:
        """The last delivery failure while it lasts, for logs and health."""
        return self._sender.failing

    @property
    def buried(self) -> int:
        """Entries dead-lettered here so far (``backlog.OutboxGauges`` counts again then)."""
        return self._sender.buried

    def _beat(self) -> None:
        self.heartbeat = time.monotonic()

    async def run(
        self, stop: asyncio.Event, grace: float, holding: Callable[[], bool] | None = None
    ) -> None:
        """Deliver until ``stop``; read only while ``holding()`` (the sink's lease is trusted),
        so a replica that lost the lease, or was paused past it, sends Redis no further read."""
        self._settler.stop = stop
        if not await self._settler.persist(
            "reading the sink state", lambda: self._switch.load(first=True)
        ):
            return
        async with asyncio.TaskGroup() as group:
            workers = range(self._config.concurrency)
            helpers = [group.create_task(self._sender.work()) for _ in workers]
            helpers.append(group.create_task(self._settler.run()))
            helpers.append(group.create_task(self._keep_claimed(stop)))
            if self._config.type.chat:
                helpers.append(group.create_task(self._close_windows(stop)))
            await self._feed(stop, holding or (lambda: True))
            self._sender.stopping.set()
            await self._drain(grace)
            for task in helpers:
                task.cancel()
        self._queue.close()

    # reading

    async def _feed(self, stop: asyncio.Event, holding: Callable[[], bool]) -> None:
        while not stop.is_set() and holding():
            self.heartbeat = time.monotonic()
            room = self._room_left()
            if not room:
                self.caught_up = False  # entries may wait unread in the store
                self._room.clear()
                await first(self._room.wait(), stop.wait(), asyncio.sleep(self._timings.read_wait))
                continue
            try:
                read = self._store.read(self.name, room, self._timings.read_wait)
                entries = await _unless_stopped(read, stop)
                # Fewer than asked for: every stream gave all it had (a count is per stream).
                self.caught_up = len(entries) < room
                if entries:
                    await self._accept(entries)
            except StoreError as exc:
                log.warning("outbox_read_failed", sink=self.name, error=str(exc))
                await first(asyncio.sleep(self._timings.store_retry), stop.wait())

    def _room_left(self) -> int:
        """How many entries the feed may read now: none until half the read-ahead is free.
        Read-ahead is for what waits to be sent: entries waiting for a retry, or delivered and
        waiting for their acknowledgement, do not count."""
        if self._queue.waiting >= MAX_WAITING:
            return 0
        acking = min(self._settler.acking, MAX_WAITING)
        room = self._capacity - (len(self._inflight) - self._queue.waiting - acking)
        return room if room >= self._capacity // 2 else 0

    def _freed(self) -> None:
        """An entry stopped counting for read-ahead: wake the feed if it may read again."""
        if not self._room.is_set() and self._room_left():
            self._room.set()

    async def _accept(self, entries: Sequence[OutboxEntry]) -> None:
        fresh = [e for e in entries if e.ref not in self._inflight]  # re-reads after claims
        await self._filter.refresh()
        wanted = []
        for entry in fresh:
            self._inflight[entry.ref] = entry
            if self._wanted(entry):
                wanted.append(entry)
            else:
                self._sender.ack(entry)  # filtered out: done with, unsent
        if not wanted:
            return
        if self.disabled is not None:
            await self._switch.load()  # `dlq replay` may have enabled it a moment ago
        if self.disabled is not None:
            await self._sender.bury(wanted, f"sink disabled: {self.disabled.reason}", 0)
            return
        try:
            states = await self._store.retry_states(self.name, wanted)
        except StoreError as exc:  # deliver now rather than hold entries: a retry sooner
            log.warning("retry_states_unread", sink=self.name, error=str(exc))
            states = {}
        if self._config.type.chat:
            self._window.add(wanted, states)
        else:
            for entry in wanted:
                for message in self._sink.render([entry]):
                    self._sender.enqueue(entry.key, Work(message), states)

    def _wanted(self, entry: OutboxEntry) -> bool:
        """Does the sink's filter let this event through? Notes its detection time too."""
        wanted, detected = self._filter.wants(entry)
        if detected is not None:
            self._detected[entry.ref] = detected
        return wanted

    async def _close_windows(self, stop: asyncio.Event) -> None:
        """Chat sinks: the first event of a burst waits ``group_wait`` for the others."""
        while not stop.is_set():
            await first(self._window.opened.wait(), stop.wait())
            await first(asyncio.sleep(self._config.group_wait), stop.wait())
            if stop.is_set():
                return  # the window's events stay pending in the store
            entries, states = self._window.take()
            for message in self._sink.render(entries):
                self._sender.enqueue(CHAT_KEY, Work(message), states)

    def _settle(self, entry: OutboxEntry) -> None:
        self._inflight.pop(entry.ref, None)
        self._detected.pop(entry.ref, None)
        self._freed()

    async def _drain(self, grace: float) -> None:
        """Let attempts in flight finish, and their acknowledgements go out, within ``grace``."""
        try:
            async with asyncio.timeout(grace):
                await self._sender.idle()
                await self._settler.flushed()
        except TimeoutError:
            log.warning("delivery_drain_timeout", sink=self.name, sending=self._sender.sending)

    async def _keep_claimed(self, stop: asyncio.Event) -> None:
        """Now and then: tell the store the entries held here are still ours (so a long retry
        is not taken for a dead replica's leftovers), and, while disabled, whether someone
        enabled the sink again (``dlq replay``)."""
        while not stop.is_set():
            await first(asyncio.sleep(self._timings.keep_every), stop.wait())
            if stop.is_set():
                return
            try:
                if self._inflight:
                    await self._store.keep(self.name, list(self._inflight.values()))
                if self.disabled is not None:
                    await self._switch.load()
            except StoreError as exc:
                log.debug("outbox_keep_failed", sink=self.name, error=str(exc))


async def _unless_stopped(
    read: Awaitable[list[OutboxEntry]], stop: asyncio.Event
) -> list[OutboxEntry]:
    """What ``read`` returns, or nothing if ``stop`` comes first: the read is cancelled then
    (whatever Redis handed it meanwhile stays pending for this consumer: read again at the next
    start, or adopted by the sink's next holder)."""
    reading = asyncio.ensure_future(read)
    await first(reading, stop.wait())
    await asyncio.wait([reading])  # its cancellation, if it came to that, is complete
    return [] if reading.cancelled() else reading.result()
