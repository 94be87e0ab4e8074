"""What one step of a watch read, and what the diff may conclude from it.

A step reads a few contexts, so its result is complete only for those (invariant 1, per
context). ``Step`` gathers the reads as they come; ``Reading`` is what the poller diffs:

- ``snapshot``: the conferences live in what was read (the live list's as they are, a
  context's by Canvas's own rule);
- ``scope.covers``: the tracked conferences the reading may end: those of the contexts read,
  of the contexts whose read failed while a conference was tracked there (``answers`` then
  stands in for the confirmation), and, when the live list was read, those of contexts no list
  of their own is read for;
- ``scope.unproven``: conferences seen only where the monitor looked for the first time, news
  only if they started after the baseline moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from monitor.core.contexts import LIVE_LIST, Context
from monitor.core.diff import Answer, Scope
from monitor.core.models import Conference


@dataclass(frozen=True, slots=True)
class Reading:
    snapshot: dict[int, Conference]
    listings: dict[Context, list[Conference]]
    scope: Scope
    read: tuple[Context, ...]  # read in full
    answers: dict[Context, Answer]  # a conference was tracked there, and the read failed


@dataclass(slots=True)
class Step:
    now: datetime
    baseline_at: datetime | None
    indexed: frozenset[Context]  # contexts read through their own lists
    live: set[Context]  # contexts where a conference is tracked
    read: list[Context] = field(default_factory=list)
    answers: dict[Context, Answer] = field(default_factory=dict)
    snapshot: dict[int, Conference] = field(default_factory=dict)
    listings: dict[Context, list[Conference]] = field(default_factory=dict)
    proven: set[int] = field(default_factory=set)

    def add(self, context: Context, found: list[Conference], *, first: bool) -> None:
        """``context`` was read in full (``first``: never before)."""
        self.read.append(context)
        if context != LIVE_LIST:
            self.listings[context] = found
        for conference in found:
            if context == LIVE_LIST or conference.is_live(self.now):
                self.snapshot.setdefault(conference.id, conference)
                if not first:
                    self.proven.add(conference.id)

    def failed(self, context: Context, answer: Answer) -> None:
        """The read of ``context``, where a conference is tracked, failed with ``answer``."""
        self.answers[context] = answer

    def reading(self) -> Reading:
        covered = {*self.read, *self.answers}
        live_list, indexed = LIVE_LIST in covered, self.indexed

        def covers(conference: Conference) -> bool:
            context = conference.context
            return context in covered or (live_list and context not in indexed)

        unproven = frozenset(self.snapshot.keys() - self.proven)
        scope = Scope(covers, unproven, self.baseline_at)
        return Reading(self.snapshot, self.listings, scope, tuple(self.read), self.answers)
