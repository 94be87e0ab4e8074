"""An institution-wide source: read a few of its many contexts per step, by the schedule.

A source with ``accounts`` watches every course they hold (``discovery``), plus its configured
contexts and the token's own live list. Each step takes about a second's worth of reads from
the ``Schedule`` (invariant 9: the lane keeps the rate, this keeps the order), reads them one
after another, and hands the poller a ``Reading``: the conferences found live, the listings
(for confirmations), and the ``Scope`` saying what the reading can end and what in it is seen
for the first time (baselines by time).

Failures are kept where they happen. The live list and configured contexts are the source's
spine: if one fails, the step fails and changes nothing, as a poll always did. A discovered
course that fails (a hidden Conferences tab, no conference plugin, a deleted course, a 5xx) is
that course's problem: it is counted, tried again later, and the step goes on without it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline
from monitor.config.settings import SourceConfig
from monitor.core.contexts import LIVE_LIST, Context, ContextInfo
from monitor.core.diff import Scope
from monitor.core.errors import CanvasError, PollFailure
from monitor.core.models import LIVE_WINDOW, Conference, Phase, SourceState
from monitor.core.purpose import Purpose, reading_for
from monitor.observe.metrics import Metrics
from monitor.store.roles import WatchStore
from monitor.watch.discovery import Discovery
from monitor.watch.schedule import Schedule, Tier

#: The store's letter for each tier (``WatchStore.context_marks``); a mark means "read once".
_MARKS: Final = {Tier.LIVE: "l", Tier.PINNED: "p", Tier.WAITING: "w", Tier.QUIET: "q",
                 Tier.DORMANT: "d"}  # fmt: skip
_TIERS: Final = {mark: tier for tier, mark in _MARKS.items()}
_PURPOSES: Final = {Tier.LIVE: Purpose.LIVE, Tier.PINNED: Purpose.PINNED,
                    Tier.WAITING: Purpose.WAITING, Tier.QUIET: Purpose.SWEEP,
                    Tier.DORMANT: Purpose.SWEEP}  # fmt: skip
#: Errors that are the token's or Canvas's as a whole, not one course's: the step fails.
_WHOLE: Final = frozenset({PollFailure.THROTTLED})


def can_go_live(conference: Conference, now: datetime) -> bool:
    """Could this conference produce a start: created and not started, or ended (or live)
    within Canvas's 24 h window, from which a re-join restarts it."""
    started = conference.started_at
    if started is None:
        return conference.ended_at is None
    return started >= now - LIVE_WINDOW


def _key(context: Context) -> str:
    return f"{context[0]}:{context[1]}"


def _context(key: str) -> Context | None:
    kind, _, number = key.partition(":")
    return (kind, int(number)) if number.isdigit() else None


@dataclass(frozen=True, slots=True)
class Reading:
    """One step's reads: the live conferences found, the listings, and what they cover."""

    snapshot: dict[int, Conference]
    listings: dict[Context, list[Conference]]
    scope: Scope
    read: tuple[Context, ...]
    first: frozenset[Context]


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
        self._failures: dict[Context, int] = {}
        self._dropped: set[Context] = set()  # gone from the directory, conferences still tracked
        self._indexed: frozenset[Context] = frozenset()
        self.baseline_at: datetime | None = None
        self.woken = asyncio.Event()  # a hint or a new directory: look at the schedule again
        self.per_step = max(1, round(source.rate_limit))
        self.sweep_period: float | None = None  # the last gap between two sweeps of a context

    def use_clock(self, monotonic: Callable[[], float], wall: Callable[[], datetime]) -> None:
        """Read the schedule's time and the wall clock from these (tests move them by hand)."""
        self._monotonic, self._wall = monotonic, wall

    @property
    def prepared(self) -> bool:
        return self.baseline_at is not None

    def forget(self) -> None:
        """Another replica watches the source now: load everything afresh if it comes back."""
        self.baseline_at = None

    async def prepare(self, now: datetime, state: SourceState) -> None:
        """Load what the store keeps (baseline moment, marks, directory) and sync the schedule."""
        if self.baseline_at is None:
            self.baseline_at = await self._store.baseline_at(self.source.name, now)
            marks = await self._store.context_marks(self.source.name)
            self._marks = {c: m for k, m in marks.items() if (c := _context(k)) is not None}
            await self.discovery.load()
            self._sync(state)
        elif self.discovery.changed.is_set():
            self.discovery.changed.clear()
            self._sync(state)

    def _sync(self, state: SourceState) -> None:
        """Bring the schedule in line with the pinned contexts and the directory."""
        now = self._monotonic()
        wanted: dict[Context, Tier] = dict.fromkeys(self._pinned, Tier.PINNED)
        directory = self.discovery.directory
        if directory is not None:
            today = self._wall()
            for info in (*directory.courses.values(), *directory.groups.values()):
                wanted.setdefault(info.key, self._remembered(info, today))
        live = {c for t in state.tracked.values() if (c := t.conference.context)}
        self._dropped = {c for c in live if c not in wanted and c[0] in ("Course", "Group")}
        self._indexed = frozenset(wanted) - {LIVE_LIST}  # read through their own lists
        for context in list(self.schedule.contexts()):
            if context not in wanted:
                self.schedule.forget(context)
        self.schedule.tune(self.source.rate_limit, Counter(wanted.values()))
        for context, tier in wanted.items():
            lively = context in live and context not in self._pinned
            self.schedule.watch(context, Tier.LIVE if lively else tier, now)
        self._publish()

    def _remembered(self, info: ContextInfo, now: datetime) -> Tier:
        """The tier a discovered context starts in: its mark (a restart goes on where the last
        process was), else quiet, or dormant where students cannot take part now."""
        tier = _TIERS.get(self._marks.get(info.key, ""))
        if tier is None or tier.swept:
            return Tier.DORMANT if info.dormant(now) else Tier.QUIET
        return tier

    def due_in(self) -> float | None:
        due = self.schedule.next_due()
        return None if due is None else max(0.0, due - self._monotonic())

    async def read(self, now: datetime, deadline: Deadline) -> Reading:
        """One step: take the next reads, read them, and say what the result covers."""
        picks = self.schedule.take(self._monotonic(), self.per_step)
        snapshot: dict[int, Conference] = {}
        listings: dict[Context, list[Conference]] = {}
        proven: set[int] = set()
        read: list[Context] = []
        first: set[Context] = set()
        for n, context in enumerate(picks):
            try:
                found = await self._read_one(context, deadline)
            except CanvasError as exc:
                if context in self._pinned or exc.reason in _WHOLE:
                    self._abandon(picks[: n + 1], picks[n + 1 :], read)
                    raise
                self._failed(context, exc)
                continue
            read.append(context)
            is_first = context not in self._marks
            if is_first:
                first.add(context)
            if context != LIVE_LIST:
                listings[context] = found
            for conference in found:
                if context == LIVE_LIST or conference.is_live(now):
                    snapshot.setdefault(conference.id, conference)
                    if not is_first:
                        proven.add(conference.id)
        covered = set(read) | self._dropped
        live_list = LIVE_LIST in covered
        indexed = self._indexed

        def covers(conference: Conference) -> bool:
            context = conference.context
            if context in covered:
                return True
            return live_list and context not in indexed

        unproven = frozenset(snapshot.keys() - proven)
        scope = Scope(covers, unproven, self.baseline_at)
        return Reading(snapshot, listings, scope, tuple(read), frozenset(first))

    async def _read_one(self, context: Context, deadline: Deadline) -> list[Conference]:
        tier = self.schedule.tier(context)
        if context == LIVE_LIST or tier is None:
            with reading_for(Purpose.LIVE_LIST):
                return await self._client.live(deadline)
        with reading_for(_PURPOSES[tier]):
            return await self._client.context(*context, deadline, remember=True)

    def _failed(self, context: Context, exc: CanvasError) -> None:
        """One discovered context failed: count it, try it again later, go on without it."""
        self._metrics.watch.context_failures.labels(self.source.name, exc.reason.value).inc()
        failures = self._failures[context] = self._failures.get(context, 0) + 1
        interval, longest = self.schedule.interval, self.source.discovery_interval
        definite = exc.definite or exc.reason in (PollFailure.FORBIDDEN, PollFailure.HTTP_4XX)
        wait = longest if definite else min(longest, interval * 2 ** (failures - 1))
        self.schedule.defer(context, self._monotonic() + max(interval, wait))

    def _abandon(self, tried: list[Context], rest: list[Context], read: list[Context]) -> None:
        """The step failed: pinned contexts keep their beat (a failed poll does not slow the
        schedule); what was read is read again soon, since none of it was committed."""
        now = self._monotonic()
        for context in (*tried, *rest):
            if context in self._pinned and context not in read:
                self.schedule.settle(context, now)
            else:
                self.schedule.defer(context, now + 1.0)

    def unread(self, reading: Reading) -> None:
        """The step's commit failed: read its contexts again soon."""
        now = self._monotonic()
        for context in reading.read:
            self.schedule.defer(context, now + 1.0)

    async def settled(self, reading: Reading, state: SourceState, now: datetime) -> None:
        """The step is committed: move each context read to the tier its listing earns, and
        note what changed in the store (after the commit, never before: ``WatchStore``)."""
        at = self._monotonic()
        live = {c for t in state.tracked.values() if (c := t.conference.context)}
        ending = {c for t in state.tracked.values()
                  if t.phase is Phase.ENDING and (c := t.conference.context)}  # fmt: skip
        changed: dict[str, str] = {}
        for context in reading.read:
            self._failures.pop(context, None)
            tier = self._tier(context, reading.listings.get(context, []), live | ending, now)
            before = self.schedule.settle(context, at, tier)
            if tier.swept and before is not None:
                self.sweep_period = at - before
                self._metrics.watch.sweep_period.labels(self.source.name).set(at - before)
            mark = _MARKS[tier]
            if self._marks.get(context) != mark:
                self._marks[context] = mark
                changed[_key(context)] = mark
        for context in live - set(reading.read):  # seen live elsewhere (the live list)
            current = self.schedule.tier(context)
            if current is not None and current not in (Tier.LIVE, Tier.PINNED):
                self.schedule.watch(context, Tier.LIVE, at)
                self.schedule.hint(context)
        self._dropped &= live
        self.schedule.tune(self.source.rate_limit)
        if changed:
            await self._store.mark_contexts(self.source.name, changed)
        self._publish()

    def _tier(
        self, context: Context, listing: list[Conference], live: set[Context], now: datetime
    ) -> Tier:
        if context in self._pinned:
            return Tier.PINNED
        if context in live:
            return Tier.LIVE
        if any(can_go_live(c, now) for c in listing):
            return Tier.WAITING
        directory = self.discovery.directory
        info = None if directory is None else directory.courses.get(context[1])
        if context[0] == "Course" and info is not None and info.dormant(now):
            return Tier.DORMANT
        return Tier.QUIET

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
