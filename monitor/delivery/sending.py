"""Sending for one sink: attempt each ready message, and act on what the receiver said.

The ``SinkRunner`` (``dispatch``) reads the outbox and queues messages; a ``Sender`` takes
them from the queue as they come due, paces them, sends, and settles each attempt: delivered
(acknowledged), retried on the sink's schedule (its retry state saved in the store, so a restart
resumes it), rejected or out of retries (dead-lettered), or the endpoint is gone (the sink is
disabled, and everything queued for it dead-lettered, in order).

Two files because these are two questions: *what is there to send* (reading, filtering,
read-ahead, chat windows) and *what happened to what was sent* (verdicts, retries, dead
letters, the sink's health).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog

from monitor.config.settings import SinkConfig
from monitor.delivery.pacing import Pacer
from monitor.delivery.queue import KeyedQueue, Window, Work
from monitor.delivery.retry import next_due
from monitor.delivery.settle import Settler
from monitor.delivery.sink_switch import SinkSwitch
from monitor.delivery.sinks.base import Attempt, Sink, Verdict
from monitor.observe.metrics import Metrics
from monitor.store.values import OutboxEntry, RetryState

log = structlog.get_logger("monitor.delivery.dispatch")


class Sender:
    def __init__(
        self,
        sink: Sink,
        config: SinkConfig,
        *,
        queue: KeyedQueue,
        settler: Settler,
        switch: SinkSwitch,
        metrics: Metrics,
        window: Window,
        detected: Mapping[str, float],
        freed: Callable[[], None],
        rng: random.Random,
        clock: Callable[[], float],
    ) -> None:
        """``window``: a chat sink's events not queued yet (dead-lettered too on disabling);
        ``detected``: entry ref -> when its event was detected (the lag metric); ``freed``:
        told whenever an entry stops counting for the runner's read-ahead."""
        self.name = config.name
        self._sink = sink
        self._config = config
        self._queue = queue
        self._settler = settler
        self._switch = switch
        self._metrics = metrics
        self._window = window
        self._detected = detected
        self._freed = freed
        self._rng = rng
        self._clock = clock
        self._pacer = Pacer(config.rate, clock)
        self.stopping = asyncio.Event()  # no new attempt once set
        self._busy: set[str] = set()  # keys with an attempt under way
        self._idle = asyncio.Event()  # set whenever no attempt is in flight
        self._idle.set()
        self.failing: str | None = None  # the last failure while it lasts, for logs and health
        self.buried = 0  # entries dead-lettered here so far
        # Per delivery: the sink's metric children, looked up once.
        self._duration = metrics.delivery_duration.labels(self.name)
        self._lag = metrics.delivery_lag.labels(self.name)
        self._deliveries = metrics.deliveries.labels(self.name)
        self._up = metrics.sink_up.labels(self.name)

    @property
    def sending(self) -> int:
        """Keys with an attempt under way."""
        return len(self._busy)

    async def idle(self) -> None:
        """Until no attempt is in flight."""
        await self._idle.wait()

    def enqueue(self, key: str, work: Work, states: Mapping[str, RetryState]) -> None:
        """Queue a message, resuming the retry schedule its events were on before a restart."""
        known = [states[e.event_id] for e in work.message.entries if e.event_id in states]
        if known:
            work.attempts = max(state.attempts for state in known)
            work.due = max(state.due for state in known)
        self._queue.push(key, work)

    async def work(self) -> None:
        """One of the sink's ``concurrency`` workers: attempt ready keys' heads until stopping."""
        while True:
            key = await self._queue.next_ready()
            if self.stopping.is_set():
                return
            await self._attempt(key, self._queue.head(key))

    async def _attempt(self, key: str, work: Work) -> None:
        await self._pacer.turn(self.stopping)
        if self.stopping.is_set() or not self._queue.holds(key, work):
            return  # stopping: it stays pending; or the sink was disabled and it was buried
        if (disabled := self._switch.disabled) is not None:  # queued after the disabling
            await self.bury(work.message.entries, f"sink disabled: {disabled.reason}", 0)
            self._queue.done(key)
            return
        self._busy.add(key)
        self._idle.clear()
        try:
            started = time.perf_counter()
            attempt = await self._sink.send(work.message)
            self._duration.observe(time.perf_counter() - started)
            await self._settle_attempt(key, work, attempt)
        finally:
            self._busy.discard(key)
            if not self._busy:
                self._idle.set()

    async def _settle_attempt(self, key: str, work: Work, attempt: Attempt) -> None:
        entries = work.message.entries
        if attempt.delivered:
            self._delivered(entries)
            self._queue.done(key)
            return
        self._failed(work, attempt)
        disabled = self._switch.disabled
        if disabled is not None and attempt.verdict is not Verdict.DISABLED:
            # Another attempt found the endpoint gone while this one was under way.
            await self.bury(entries, f"sink disabled: {disabled.reason}", work.attempts + 1)
            self._queue.done(key)
            return
        match attempt.verdict:
            case Verdict.RETRY:
                await self._retry_later(key, work, attempt)
            case Verdict.REJECTED:
                await self.bury(entries, f"rejected: {attempt.detail}", work.attempts + 1)
                self._queue.done(key)
            case Verdict.DISABLED:  # this message first: dead letters keep the events' order
                await self.bury(entries, f"sink disabled: {attempt.detail}", work.attempts + 1)
                self._queue.done(key)
                self._busy.discard(key)  # what follows it in this key is drained too
                await self._disable(attempt)

    def _delivered(self, entries: Sequence[OutboxEntry]) -> None:
        now = self._clock()
        for entry in entries:
            if (detected := self._detected.get(entry.ref)) is not None:
                self._lag.observe(max(0.0, now - detected))
            self.ack(entry)
        self._deliveries.inc(len(entries))
        self._up.set(1)
        if self.failing is not None:
            log.info("delivery_recovered", sink=self.name)
        self.failing = None

    def _failed(self, work: Work, attempt: Attempt) -> None:
        reason = attempt.failure or "rejected"
        self._metrics.delivery_failures.labels(self.name, reason).inc()
        self._up.set(0)
        if self.failing != reason:  # log transitions, not every retry
            log.warning(
                "delivery_failing",
                sink=self.name,
                reason=reason,
                detail=attempt.detail,
                event_id=work.message.id,
            )
        self.failing = reason

    async def _retry_later(self, key: str, work: Work, attempt: Attempt) -> None:
        now = self._clock()
        work.attempts += 1
        if attempt.failure == "throttled" and attempt.retry_after:  # the endpoint, not the event
            self._pacer.hold(attempt.retry_after)
        due = next_due(
            self._config.retry_schedule, work.attempts, now, self._rng, attempt.retry_after
        )
        if due is None:
            reason = f"retries exhausted after {work.attempts} attempts: {attempt.detail}"
            await self.bury(work.message.entries, reason, work.attempts)
            self._queue.done(key)
            return
        work.due = due
        state = RetryState(work.attempts, due, attempt.detail)
        await self._settler.save_retry(work.message.entries, state)
        self._queue.later(key)
        self._freed()

    # giving up

    def ack(self, entry: OutboxEntry) -> None:
        """Done with ``entry`` (delivered, or not for this sink): acknowledge it."""
        self._settler.ack(entry)
        self._freed()

    async def bury(self, entries: Sequence[OutboxEntry], reason: str, attempts: int) -> None:
        await self._settler.bury(entries, reason, attempts)
        self.buried += len(entries)

    async def _disable(self, attempt: Attempt) -> None:
        if not await self._switch.disable(attempt.detail, self._store_write("disabling")):
            return
        drained = self._queue.drain(self._busy)
        queued = [entry for work in drained for entry in work.message.entries]
        window, _ = self._window.take()
        if queued or window:
            await self.bury([*queued, *window], f"sink disabled: {attempt.detail}", 0)

    def _store_write(
        self, action: str
    ) -> Callable[[Callable[[], Awaitable[object]]], Awaitable[bool]]:
        return lambda write: self._settler.persist(action, write)
