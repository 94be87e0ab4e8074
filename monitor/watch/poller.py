"""One source's loop: poll on a steady beat (``ticker``), or step by the schedule for a source
that watches an institution (``steps``); diff, name, commit, and keep the metrics true.

A poll that fails anywhere before the commit changes nothing: the in-memory state is replaced
only by what the store accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline
from monitor.canvas.snapshot import confirm, take_snapshot
from monitor.config.settings import SourceConfig
from monitor.core.contexts import ContextInfo
from monitor.core.diff import Confirmation, Delta, Outcome, diff, vanished
from monitor.core.errors import CanvasError, FencedError, PollFailure, StaleStateError, StoreError
from monitor.core.lease_name import LeaseName
from monitor.core.models import (
    Conference,
    SourceState,
)
from monitor.core.purpose import Purpose, reading_for
from monitor.core.timings import PRODUCTION, Timings
from monitor.observe.metrics import Metrics
from monitor.replicas.leases import LeaseKeeper
from monitor.store.roles import StateStore
from monitor.store.values import Fence
from monitor.watch.announce import announce
from monitor.watch.names import Names
from monitor.watch.steps import run_watch
from monitor.watch.summary import WatchSummary, summarize
from monitor.watch.ticker import ticker
from monitor.watch.watch import Watch

log = structlog.get_logger("monitor.watch.poller")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Poller:
    def __init__(
        self,
        source: SourceConfig,
        client: CanvasClient,
        store: StateStore,
        metrics: Metrics,
        *,
        interval: float,
        clock: Callable[[], datetime] = utcnow,
        leases: LeaseKeeper | None = None,
        quiet_events: bool = False,
        timings: Timings = PRODUCTION,
        watch: Watch | None = None,
    ) -> None:
        self.source = source
        self._prune_every = timedelta(seconds=timings.prune_every)
        # None: every poll reads the live list and the configured contexts (a snapshot);
        # a Watch: each step reads what the schedule says (a source with accounts).
        self.watch = watch
        directory = (lambda: watch.discovery.directory) if watch is not None else (lambda: None)
        self._names = Names(client, directory)
        # A console sink on a terminal already prints each event: log them at debug only.
        self._quiet_events = quiet_events
        self._baseline_told = False  # the ``baseline`` line: once per source and process
        self._leases = leases  # None: this process is the only one that polls
        self._lease = LeaseName.source(source.name)
        self.interval = interval
        self._client = client
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self.state = SourceState()
        self._version: int | None = None  # None: not loaded from the store (yet, or again)
        self._fence: Fence | None = None  # the lease this state was loaded under
        self._quiet_baseline = False  # the store lost a source it had: do not announce again
        self._last_prune: datetime | None = None
        self.failing: PollFailure | None = None
        self.last_error: str | None = None  # what the last failed poll said (no secrets)
        self.last_success: float | None = None  # time.monotonic() of the last good poll
        self.heartbeat = time.monotonic()
        # This source's series of the metrics every poll moves, looked up once.
        self._polls = metrics.polls.labels(source.name)
        self._duration = metrics.poll_duration.labels(source.name)
        self._last_success = metrics.last_success.labels(source.name)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def holds(self) -> bool:
        """Does this replica poll the source now (holds its lease)?"""
        return self._leases is None or self._leases.holds(self._lease)

    @property
    def coverage_problem(self) -> str | None:
        """Why this source does not watch all it should, or None (``/readyz``)."""
        if self.watch is None or self.elsewhere:
            return None
        discovery = self.watch.discovery
        if discovery.failing is not None:
            return f"discovery of its accounts fails: {discovery.failing}"
        if discovery.directory is None:
            return "discovery of its accounts has not completed yet"
        return None

    def watch_summary(self) -> WatchSummary | None:
        """The watch as the console shows it (None: the source watches no accounts, or another
        replica watches it and has the figures)."""
        if self.watch is None or self.elsewhere:
            return None
        return summarize(self.watch, self._client.requests_per_second())

    def describe(self, conference: Conference) -> ContextInfo | None:
        return self._names.describe(conference)

    @property
    def elsewhere(self) -> bool:
        """Is the source another replica's to poll (and to answer for in readiness)?"""
        return self._leases is not None and self._leases.elsewhere(self._lease)

    async def run(self, stop: asyncio.Event) -> None:
        if self.watch is not None:
            await run_watch(self, self.watch, stop)
            return
        async with contextlib.aclosing(ticker(self.interval, stop)) as ticks:
            async for _ in ticks:
                await self.beat()

    async def beat(self) -> None:
        """One tick: poll if this replica holds the source, else keep the heartbeat."""
        if self.holds:
            await self.poll_once()
        else:  # another replica polls it; load afresh should the lease come back here
            self.heartbeat = time.monotonic()
            if self._version is not None:
                self._version = None
                self._metrics.set_live(self.name, [])  # the holder reports it

    async def poll_once(self) -> bool:
        """One poll: True when it completed and its outcome is committed."""
        self.heartbeat = began = time.monotonic()
        pages = self._client.pages_read
        self._polls.inc()
        with self._duration.time():
            try:
                outcome = await self._poll()
            except CanvasError as exc:
                self._failed(exc.reason, str(exc))
                return False
            except StaleStateError as exc:
                self._version = None  # someone else committed: reload before the next diff
                if isinstance(exc, FencedError):  # another replica holds the lease now
                    self._metrics.commits_refused.labels(self.name).inc()
                    if self._leases is not None:
                        self._leases.refused(self._lease)
                self._failed(PollFailure.STORE, str(exc))
                return False
            except StoreError as exc:
                self._failed(PollFailure.STORE, str(exc))
                return False
        self._succeeded(outcome)
        if not self._baseline_told:
            self._baseline_told = True
            self._tell_baseline(outcome, began, pages)
        return True

    def _tell_baseline(self, outcome: Outcome, began: float, pages: int) -> None:
        """Say once that the first poll worked (what a newcomer waits for after ``listening``);
        later polls log only transitions."""
        log.info(
            "baseline",
            source=self.name,
            live=len(self.state.live()),
            pages=self._client.pages_read - pages,
            seconds=round(time.monotonic() - began, 3),
            events=len(outcome.events),
        )

    async def _poll(self) -> Outcome:
        fence = None if self._leases is None else self._leases.fence(self._lease)
        if fence is None and self._leases is not None:  # trust ran out since ``holds``
            raise StaleStateError(f"source {self.name}: the lease lapsed; not committing")
        if fence != self._fence:  # a new lease: another replica may have committed meanwhile
            self._fence, self._version = fence, None
        version = self._version if self._version is not None else await self._load(fence)
        self._version = version
        now = self._clock()
        deadline = Deadline(self.source.poll_timeout)
        if self.watch is not None:
            return await self._step(self.watch, version, fence, now, deadline)
        snapshot, listings = await take_snapshot(self._client, self.source, now, deadline)
        gone = vanished(self.state, snapshot)
        confirmations = await confirm(self._client, gone, listings, deadline) if gone else {}
        prune = self._last_prune is None or now - self._last_prune >= self._prune_every
        outcome = diff(
            self.name,
            self.state,
            snapshot,
            confirmations,
            now=now,
            announce_existing=self.source.announce_existing and not self._quiet_baseline,
            grace_polls=self.source.confirm_grace,
            prune=prune,
        )
        if outcome.events:  # most polls: none to name
            outcome = await self._names.name(outcome, deadline)
        if outcome.delta:
            self._version = await self._store.commit(self.name, version, outcome, fence)
        if prune:
            self._last_prune = now
        self._quiet_baseline = False
        return outcome

    async def _step(
        self, watch: Watch, version: int, fence: Fence | None, now: datetime, deadline: Deadline
    ) -> Outcome:
        """One step of a watched source: what the schedule says, diffed by what it covers."""
        await watch.prepare(now, self.state)
        reading = await watch.read(now, deadline, self.state)
        gone = vanished(self.state, reading.snapshot, reading.scope)
        answered = {  # a failed read of its context answers for it
            c.id: Confirmation(reading.answers[c.context])
            for c in gone
            if c.context is not None and c.context in reading.answers
        }
        asked = [c for c in gone if c.id not in answered]
        with reading_for(Purpose.CONFIRM):
            confirmations = (
                await confirm(self._client, asked, reading.listings, deadline) if asked else {}
            )
        confirmations |= answered
        outcome = diff(
            self.name,
            self.state,
            reading.snapshot,
            confirmations,
            now=now,
            announce_existing=self.source.announce_existing and not self._quiet_baseline,
            grace_polls=self.source.confirm_grace,
            prune=self._last_prune is None or now - self._last_prune >= self._prune_every,
            scope=reading.scope,
        )
        outcome = await self._names.name(outcome, deadline)
        if outcome.delta:
            try:
                self._version = await self._store.commit(self.name, version, outcome, fence)
            except StoreError:
                watch.unread(reading)
                raise
        if self._last_prune is None or now - self._last_prune >= self._prune_every:
            self._last_prune = now
        self._quiet_baseline = False
        await watch.settled(reading, outcome.state, now)
        return outcome

    async def _load(self, fence: Fence | None) -> int:
        """Load the committed state; if the store lost it, rebuild it without false alarms.

        With a state in memory (the store was wiped under a running process), that state is
        written back and the polls go on from it, so no transition is missed. Without one (the
        process restarted too) but with signs the source was known, the next poll is a baseline
        that announces nothing, even with ``announce_existing``.
        """
        loaded = await self._store.load(self.name)
        lost = loaded.version == 0 and not loaded.state.baselined
        if lost and self.state.baselined:
            restore = Outcome(self.state, (), Delta.everything(self.state))
            version = await self._store.commit(self.name, 0, restore, fence)
            self._reset("from_memory", tracked=len(self.state.tracked))
            return version
        if lost and loaded.known:
            self._quiet_baseline = True
            self._reset("rebaselined")
        self.state = loaded.state
        self._metrics.set_live(self.name, self.state.live())
        return loaded.version

    def _reset(self, how: str, **details: object) -> None:
        self._metrics.state_resets.labels(self.name, how).inc()
        log.warning("state_lost", source=self.name, how=how, **details)

    def _succeeded(self, outcome: Outcome) -> None:
        changed = outcome.state is not self.state
        self.state = outcome.state
        self.last_success = time.monotonic()
        self._last_success.set(time.time())
        if changed:
            self._metrics.set_live(self.name, self.state.live())
        for event in outcome.events:
            announce(self._metrics, event, quiet=self._quiet_events)
        if self.failing is not None:
            log.info("poll_recovered", source=self.name, after=self.failing.value)
            self.failing = None
            self.last_error = None

    def _failed(self, reason: PollFailure, message: str) -> None:
        self._metrics.poll_failures.labels(self.name, reason.value).inc()
        if self.failing is not reason:  # log on transitions, not on every tick
            log.warning("poll_failed", source=self.name, reason=reason.value, error=message)
        self.failing = reason
        self.last_error = message
