"""An institution-wide source: read a few of its many contexts per step, by the schedule.

A source with ``accounts`` watches every course they hold (``discovery``), plus its configured
contexts and the token's own live list. Each step takes about a second's worth of reads from
the ``Schedule`` (invariant 9: the lane keeps the rate, this keeps the order), reads them one
after another, and hands the poller a ``Reading`` (``reading.py``): the conferences found
live, the listings (for confirmations), and the ``Scope`` saying what the reading can end and
what in it is seen for the first time (baselines by time).

Failures are kept where they happen. The live list and configured contexts are the source's
spine: if one fails, the step fails and changes nothing, as a poll always did. A discovered
course that fails (a hidden Conferences tab, no conference plugin, a deleted course, a 5xx) is
that course's problem: it is counted and tried again later, and the step goes on without it,
unless a conference is live there: then the failure is its answer (a definite one ends it as
``unconfirmed``, a transient one after the grace), so no conference stays "live" for ever in a
course that stopped answering. A course that leaves the directory while a conference is live
there is read on until that conference has ended.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline
from monitor.config.settings import SourceConfig
from monitor.core.contexts import LIVE_LIST, Context
from monitor.core.diff import Answer
from monitor.core.errors import CanvasError, PollFailure, StoreError
from monitor.core.models import Conference, SourceState
from monitor.core.purpose import Purpose, reading_for
from monitor.observe.metrics import Metrics
from monitor.store.roles import WatchStore
from monitor.watch import tiers
from monitor.watch.discovery import Discovery
from monitor.watch.reading import Reading, Step
from monitor.watch.schedule import Schedule, Tier

log = structlog.get_logger("monitor.watch.watch")


def tracked_contexts(state: SourceState) -> set[Context]:
    """The contexts where a conference is tracked (live, or ending)."""
    return {c for t in state.tracked.values() if (c := t.conference.context) is not None}


class Watch:
    def __init__(
        self,
        source: SourceConfig,
        client: CanvasClient,
        store: WatchStore,
        metrics: Metrics,
        discovery: Discovery,
        *,
        interval: float,
        monotonic: Callable[[], float] | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source = source
        self.discovery = discovery
        self.schedule = Schedule(interval)
        self._client = client
        self._store = store
        self._metrics = metrics
        self._monotonic = monotonic or asyncio.get_running_loop().time
        self._wall = wall
        self._pinned: set[Context] = {LIVE_LIST} | {("Course", i) for i in source.courses}
        self._pinned |= {("Group", i) for i in source.groups}
        self._marks: dict[Context, str] = {}
        self._unsaved: dict[str, str] = {}  # marks the store has not taken yet
        self._failures: dict[Context, int] = {}
        self._leaving: set[Context] = set()  # left the directory, conferences still tracked
        self._indexed: frozenset[Context] = frozenset()  # read through their own lists
        self.baseline_at: datetime | None = None
        self.per_step = max(1, round(source.rate_limit))
        self.sweep_period: float | None = None  # the last gap between two sweeps of a context

    def use_clock(self, monotonic: Callable[[], float], wall: Callable[[], datetime]) -> None:
        """Read the schedule's time and the wall clock from these (tests move them by hand)."""
        self._monotonic, self._wall = monotonic, wall

    @property
    def prepared(self) -> bool:
        return self.baseline_at is not None

    def forget(self) -> None:
        """Another replica watches the source now: load everything afresh if it comes back,
        and stop reporting tiers that are the other replica's to report."""
        if self.baseline_at is not None:
            self._metrics.watch.set_tiers(self.source.name, {})
            self._metrics.watch.oldest_read.labels(self.source.name).set(0)
        self.baseline_at = None

    async def prepare(self, now: datetime, state: SourceState) -> None:
        """Load what the store keeps (baseline moment, marks, directory) and sync the schedule;
        ``prepared`` only once all of it is in (a failure half-way loads it all again)."""
        if self.baseline_at is None:
            baseline = await self._store.baseline_at(self.source.name, now)
            marks = tiers.parse_marks(await self._store.context_marks(self.source.name))
            await self.discovery.load()
            self._marks, self._unsaved = marks, {}
            self._sync(state)
            self.baseline_at = baseline
        elif self.discovery.changed.is_set():
            self._sync(state)

    def _sync(self, state: SourceState) -> None:
        """Bring the schedule in line with the pinned contexts and the directory."""
        self.discovery.changed.clear()
        now = self._monotonic()
        wanted: dict[Context, Tier] = dict.fromkeys(self._pinned, Tier.PINNED)
        directory = self.discovery.directory
        if directory is not None:
            today = self._wall()
            for info in (*directory.courses.values(), *directory.groups.values()):
                mark = self._marks.get(info.key)
                wanted.setdefault(info.key, tiers.remembered(mark, info, today))
        live = tracked_contexts(state)
        # Read until their conferences end: contexts that were read through their own lists
        # and left the directory (deleted, moved out) while a conference was tracked there.
        self._leaving = ((set(self._indexed) | self._leaving) - wanted.keys()) & live
        for context in self._leaving:
            wanted[context] = Tier.LIVE
        gone = [c for c in self.schedule.contexts() if c not in wanted]
        for context in gone:
            self.schedule.forget(context)
            self._failures.pop(context, None)
            if self._marks.pop(context, None) is not None:
                self._unsaved[tiers.key(context)] = ""  # forgotten: new again if it returns
        self._indexed = frozenset(wanted) - {LIVE_LIST}
        self.schedule.tune(self.source.rate_limit, Counter(wanted.values()))
        for context, tier in wanted.items():
            lively = context in live and context not in self._pinned
            self.schedule.watch(context, Tier.LIVE if lively else tier, now)
        self._publish()

    def due_in(self) -> float | None:
        due = self.schedule.next_due()
        return None if due is None else max(0.0, due - self._monotonic())

    async def read(self, now: datetime, deadline: Deadline, state: SourceState) -> Reading:
        """One step: take the next reads, read them, and say what the result covers."""
        picks = self.schedule.take(self._monotonic(), self.per_step)
        hinted = self.schedule.hinted_last
        step = Step(now, self.baseline_at, self._indexed, tracked_contexts(state))
        for n, context in enumerate(picks):
            if deadline.remaining() <= 0:  # Canvas is slow: the rest waits, blameless
                self._abandon([], picks[n:], step.read)
                break
            try:
                found = await self._read_one(context, deadline, context in hinted)
            except CanvasError as exc:
                if context in self._pinned or exc.reason is PollFailure.THROTTLED:
                    self._abandon(picks[: n + 1], picks[n + 1 :], step.read)
                    raise
                if deadline.remaining() <= 0 and exc.reason is PollFailure.TIMEOUT:
                    self._abandon([context], picks[n + 1 :], step.read)
                    break
                self._failed(context, exc, step)
                continue
            step.add(context, found, first=context not in self._marks)
        return step.reading()

    async def _read_one(
        self, context: Context, deadline: Deadline, hinted: bool
    ) -> list[Conference]:
        tier = self.schedule.tier(context)
        if context == LIVE_LIST or tier is None:
            with reading_for(Purpose.LIVE_LIST):
                return await self._client.live(deadline)
        with reading_for(Purpose.HINTED if hinted else tiers.PURPOSES[tier]):
            return await self._client.context(*context, deadline, remember=True)

    def _failed(self, context: Context, exc: CanvasError, step: Step) -> None:
        """One discovered context failed: count it and try it again later. Where a
        conference is tracked, the failure answers for it (and it is tried again next beat)."""
        self._metrics.watch.context_failures.labels(self.source.name, exc.reason.value).inc()
        failures = self._failures[context] = self._failures.get(context, 0) + 1
        interval, longest = self.schedule.interval, self.source.discovery_interval
        if context in step.live:
            step.failed(context, Answer.ABSENT if exc.definite else Answer.FAILED)
            wait = interval
        elif exc.definite or exc.reason in (PollFailure.FORBIDDEN, PollFailure.HTTP_4XX):
            wait = longest
        else:
            wait = min(longest, interval * 2 ** (failures - 1))
        self.schedule.defer(context, self._monotonic() + max(interval, wait))

    def _abandon(self, tried: list[Context], rest: list[Context], read: list[Context]) -> None:
        """The step stops: pinned contexts keep their beat (a failed poll does not slow the
        schedule); what was read or not yet tried is read again soon."""
        now = self._monotonic()
        for context in (*tried, *rest):
            if context in self._pinned and context not in read:
                self.schedule.settle(context, now)
            else:
                self.schedule.defer(context, now + 1.0)

    def unread(self, reading: Reading) -> None:
        """The step's commit failed: read its contexts again soon."""
        now = self._monotonic()
        for context in (*reading.read, *reading.answers):
            self.schedule.defer(context, now + 1.0)

    async def settled(self, reading: Reading, state: SourceState, now: datetime) -> None:
        """The step is committed: move each context read to the tier its listing earns, and
        note what changed in the store (after the commit, never before: ``WatchStore``). A
        store that fails here costs nothing but a retry of the notes on the next step."""
        at = self._monotonic()
        live = tracked_contexts(state)
        directory = self.discovery.directory
        for context in reading.read:
            self._failures.pop(context, None)
            info = None if directory is None else directory.courses.get(context[1])
            tier = tiers.tier_of(
                context,
                reading.listings.get(context, []),
                pinned=context in self._pinned,
                live=context in live,
                info=info if context[0] == "Course" else None,
                now=now,
            )
            before = self.schedule.settle(context, at, tier)
            if tier.swept and before is not None:
                self.sweep_period = at - before
                self._metrics.watch.sweep_period.labels(self.source.name).set(at - before)
            if self._marks.get(context) != (mark := tiers.MARKS[tier]):
                self._marks[context] = mark
                self._unsaved[tiers.key(context)] = mark
        for context in live - set(reading.read):  # seen live elsewhere (the live list)
            current = self.schedule.tier(context)
            if current is not None and current not in (Tier.LIVE, Tier.PINNED):
                self.schedule.watch(context, Tier.LIVE, at)
                self.schedule.hint(context)
        if self._leaving - live:  # their conferences have ended: let them go
            self._leaving &= live
            self.discovery.changed.set()
        self.schedule.tune(self.source.rate_limit)
        await self._save_marks()
        self._publish()

    async def _save_marks(self) -> None:
        if not self._unsaved:
            return
        unsaved, self._unsaved = self._unsaved, {}
        try:
            await self._store.mark_contexts(self.source.name, unsaved)
        except StoreError as exc:
            log.warning("marks_unsaved", source=self.source.name, error=str(exc))
            self._unsaved = {**unsaved, **self._unsaved}

    def _publish(self) -> None:
        name = self.source.name
        counts = self.schedule.counts()
        self._metrics.watch.set_tiers(name, {t.name.lower(): n for t, n in counts.items()})
        oldest = self.schedule.oldest_read(self._monotonic())
        if oldest is not None:
            self._metrics.watch.oldest_read.labels(name).set(oldest)


def watch_for(
    source: SourceConfig,
    client: CanvasClient,
    store: WatchStore,
    metrics: Metrics,
    *,
    interval: float,
) -> Watch | None:
    """The watch of a source with ``accounts``; None for one that reads a few contexts."""
    if not source.accounts:
        return None
    discovery = Discovery(source, client, store, metrics=metrics)
    return Watch(source, client, store, metrics, discovery, interval=interval)
