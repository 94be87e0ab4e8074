"""What to read next: one source's contexts, ordered by where a conference can change.

A university has thousands of courses and one token's budget (``rate_limit`` requests a second,
invariant 9); reading each every ``poll_interval`` would take hours per pass. So each context
sits in a tier that says how soon a change there can happen:

- ``LIVE``: a conference is live there. Read every interval, so ends are seen as fast as ever.
- ``PINNED``: asked for by hand (configured courses and groups) or the token's own live list.
  Read every interval, like a source that watches a few contexts always was.
- ``WAITING``: a conference there can go live (created and not started, or ended within Canvas's
  24 h window and so restartable). Read every ``waiting_every`` (an interval, or up to 1.7 of
  one when they are many: the watch tunes it so a start there is still seen within two), after
  the two above.
- ``QUIET``: nothing there can start until a conference is created. Swept, oldest read first,
  with whatever budget is left, and never more often than once an interval.
- ``DORMANT``: a concluded course (Canvas makes it read-only): swept with the quiet ones, but
  due only once every ``dormant_every`` seconds, so a campus's past terms cost little.

A hint (the live list shows a conference there, a Live Event names it) puts a context ahead of
everything at once. Earliest due first within a tier; a higher tier always goes first, so a live
course is never starved by a sweep; quiet and dormant contexts share one queue by due time, so
neither starves the other (property-tested in ``tests/test_schedule.py``).

Pure like the diff: no I/O, no clock (``now`` is passed in, in seconds of any monotonic clock).
The budget itself is kept by the token's lane; this only decides the order.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from monitor.core.contexts import Context

#: Live and waiting courses together take at most this share of the budget before waiting ones
#: are read less often than every interval...
WAITING_SHARE: Final = 0.5
#: ...but never less often than this many intervals: a start there is still seen within two.
WAITING_MAX: Final = 1.7
#: The dormant tier's share of the budget: its period is stretched (from an hour) to fit.
DORMANT_SHARE: Final = 0.05
DORMANT_MIN: Final = 3600.0


class Tier(IntEnum):
    """Most urgent first (the value is the order)."""

    LIVE = 0
    PINNED = 1
    WAITING = 2
    QUIET = 3
    DORMANT = 4

    @property
    def swept(self) -> bool:
        """Read with the budget that is left, oldest first (rather than on a beat)."""
        return self >= Tier.QUIET


@dataclass(slots=True)
class _Slot:
    tier: Tier
    due: float  # when it should next be read
    last_read: float | None = None
    entry: int = 0  # the heap entry that is current (older ones are skipped)
    taken: bool = False  # handed out by ``take`` and not yet settled


class Schedule:
    """The read order of one source's contexts; ``take`` the next, ``settle`` what was read."""

    def __init__(self, interval: float, *, dormant_every: float = 3600.0) -> None:
        self.interval = interval
        self.waiting_every = interval
        self.dormant_every = max(interval, dormant_every)
        self._slots: dict[Context, _Slot] = {}
        # One queue per beat tier, in tier order, and one for both swept tiers.
        self._heaps: dict[Tier, list[tuple[float, int, Context]]] = {
            t: [] for t in Tier if t <= Tier.QUIET
        }
        self._hinted: dict[Context, None] = {}  # in the order the hints came
        self._seq = itertools.count()

    def __contains__(self, context: Context) -> bool:
        return context in self._slots

    def __len__(self) -> int:
        return len(self._slots)

    def contexts(self) -> list[Context]:
        return list(self._slots)

    def tier(self, context: Context) -> Tier | None:
        slot = self._slots.get(context)
        return None if slot is None else slot.tier

    def watch(self, context: Context, tier: Tier, now: float) -> None:
        """Add a context (due at once: nothing is known of it yet), or move it to ``tier``.

        A context moved up is due at once, unless it was read within the new tier's period;
        one moved down keeps its place in time."""
        slot = self._slots.get(context)
        if slot is None:
            self._slots[context] = slot = _Slot(tier, now + self._spread(context, tier))
        elif slot.tier == tier:
            return
        else:
            moved_up = tier < slot.tier
            slot.tier = tier
            if moved_up:
                since = slot.last_read if slot.last_read is not None else now
                slot.due = min(slot.due, since + self._period(tier))
        if not slot.taken:
            self._push(context, slot)

    def forget(self, context: Context) -> None:
        self._slots.pop(context, None)
        self._hinted.pop(context, None)

    def hint(self, context: Context) -> None:
        """Read ``context`` before anything else (it must be watched already)."""
        if context in self._slots:
            self._hinted[context] = None

    def take(self, now: float, limit: int) -> list[Context]:
        """Up to ``limit`` contexts to read now: hinted first, then due ones by tier and time.

        Each one taken must be given back through ``settle`` (read) or ``defer`` (not read)."""
        taken: list[Context] = []
        for context in list(self._hinted):
            if len(taken) >= limit:
                return taken
            del self._hinted[context]
            slot = self._slots.get(context)
            if slot is not None and not slot.taken:
                slot.taken = True
                taken.append(context)
        for heap in self._heaps.values():
            while heap and len(taken) < limit and heap[0][0] <= now:
                _, entry, context = heapq.heappop(heap)
                slot = self._slots.get(context)
                if slot is None or slot.entry != entry or slot.taken:
                    continue  # a stale entry: the context moved or was taken or forgotten
                slot.taken = True
                taken.append(context)
        return taken

    def settle(self, context: Context, now: float, tier: Tier | None = None) -> float | None:
        """``context`` was read at ``now``; it sits in ``tier`` from now on (default: same).

        Tiers on a beat keep their phase (start to start, overrun beats skipped, as the
        ticker does); swept tiers come round again after one interval at the earliest.
        Returns when it was read before (None: never), for the sweep's period."""
        slot = self._slots.get(context)
        if slot is None:
            return None
        slot.taken = False
        before = slot.last_read
        previous, slot.last_read = slot.tier, now
        slot.tier = previous if tier is None else tier
        period = self._period(slot.tier)
        if slot.tier.swept or slot.tier != previous or slot.due > now:
            slot.due = now + period  # a new beat (or read early, on a hint)
        else:
            slot.due += period
            if slot.due <= now:
                slot.due += period * ((now - slot.due) // period + 1)
        self._push(context, slot)
        return before

    def defer(self, context: Context, until: float) -> None:
        """``context`` was taken but not read (the read failed): due again at ``until``."""
        slot = self._slots.get(context)
        if slot is None:
            return
        slot.taken = False
        slot.due = until
        self._push(context, slot)

    def tune(self, rate: float, counts: Mapping[Tier, int] | None = None) -> None:
        """Fit the periods of the waiting and dormant tiers to the budget (``rate`` reads a
        second), so that what is left for the sweep stays worth having (``WAITING_SHARE``,
        ``DORMANT_SHARE``). ``counts``: the tiers about to be watched (default: those that are),
        so that new dormant contexts are spread over the period they will have."""
        counts = Counter(self.counts() if counts is None else counts)
        beats = (counts[Tier.LIVE] + counts[Tier.PINNED]) / self.interval
        room = WAITING_SHARE * rate - beats
        waiting = counts[Tier.WAITING]
        longest = WAITING_MAX * self.interval
        wanted = waiting / room if room > 0 else longest
        self.waiting_every = min(longest, max(self.interval, wanted))
        self.dormant_every = max(DORMANT_MIN, counts[Tier.DORMANT] / (DORMANT_SHARE * rate))

    def next_due(self) -> float | None:
        """When the earliest context is due (None when nothing is waiting to be read)."""
        if self._hinted:
            return float("-inf")
        dues = [heap[0][0] for heap in self._heaps.values() if self._clean(heap)]
        return min(dues, default=None)

    def counts(self) -> Counter[Tier]:
        """How many contexts sit in each tier."""
        return Counter(slot.tier for slot in self._slots.values())

    def oldest_read(self, now: float, *tiers: Tier) -> float | None:
        """Seconds since the least recently read context of ``tiers`` (any, by default) was
        read; a context never read counts from when it was added (its first due time)."""
        ages = [
            now - (slot.last_read if slot.last_read is not None else slot.due)
            for slot in self._slots.values()
            if not tiers or slot.tier in tiers
        ]
        return max(ages, default=None)

    def _period(self, tier: Tier) -> float:
        """How long a context of ``tier`` waits after a read (the swept tiers: at least)."""
        if tier is Tier.WAITING:
            return self.waiting_every
        if tier is Tier.DORMANT:
            return self.dormant_every
        return self.interval

    def _spread(self, context: Context, tier: Tier) -> float:
        """When a new dormant context is first due: spread over its period by its id, so that
        a campus's past terms do not crowd the first sweep ahead of the running courses."""
        if tier is not Tier.DORMANT:
            return 0.0
        return (context[1] * 0.618034 % 1.0) * self.dormant_every

    def _push(self, context: Context, slot: _Slot) -> None:
        slot.entry = next(self._seq)
        heap = self._heaps[min(slot.tier, Tier.QUIET)]  # dormant ones queue with the quiet
        heapq.heappush(heap, (slot.due, slot.entry, context))

    def _clean(self, heap: list[tuple[float, int, Context]]) -> bool:
        """Drop stale entries from the top of ``heap``; is a live one left?"""
        while heap:
            _, entry, context = heap[0]
            slot = self._slots.get(context)
            if slot is not None and slot.entry == entry and not slot.taken:
                return True
            heapq.heappop(heap)
        return False
