"""The heart: compare the remembered state of a source with a complete snapshot.

Pure: no I/O, no ``await``, no clock (``now`` is passed in). The poller asks ``vanished()`` which
conferences need confirming, fetches the confirmations, then calls ``diff()``; the result is the
new state, the events it implies and the delta a store has to write. State and events are then
committed together, atomically, by the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import assert_never

from monitor.core.models import (
    LIVE_WINDOW,
    Conference,
    EndReason,
    Event,
    EventType,
    Phase,
    Snapshot,
    SourceState,
    Tombstone,
    Tracked,
    event_id,
)


class Answer(StrEnum):
    FOUND = "found"  # the context endpoint lists the conference
    ABSENT = "absent"  # a definite non-answer: 401, 403, 404, or not listed
    FAILED = "failed"  # a transient failure: timeout, 5xx, throttled past the budget


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What the context endpoint said about one vanished conference."""

    answer: Answer
    conference: Conference | None = None


@dataclass(frozen=True, slots=True)
class Delta:
    """Which parts of the state changed, so a store writes only those."""

    tracked: frozenset[int] = frozenset()  # ids to write (present) or delete (absent in state)
    tombstones: frozenset[int] = frozenset()
    baselined: bool = False  # the baseline flag flipped

    def __bool__(self) -> bool:
        return bool(self.tracked or self.tombstones or self.baselined)

    @classmethod
    def everything(cls, state: SourceState) -> Delta:
        """Every part of ``state``: what writing it into an empty store takes."""
        return cls(frozenset(state.tracked), frozenset(state.tombstones), True)


@dataclass(frozen=True, slots=True)
class Outcome:
    state: SourceState
    events: tuple[Event, ...] = ()
    delta: Delta = field(default_factory=Delta)


@dataclass(frozen=True, slots=True)
class Scope:
    """What a partial reading was complete for, and what in it is seen for the first time.

    A source that watches thousands of contexts reads a few at a time, so one reading is complete
    only for the contexts it read (and the token's live list, when read). ``covers`` says which
    tracked conferences such a reading can judge: only those may end (invariant 1). ``unproven``
    are the conferences seen only where the monitor looked for the first time (a context's first
    read, the source's first live list): they are news only if they started after the source's
    ``baseline_at`` (baselines by time), since they may have been live long before anyone looked.
    """

    covers: Callable[[Conference], bool]
    unproven: frozenset[int] = frozenset()
    baseline_at: datetime | None = None

    def news(self, conference: Conference) -> bool:
        """May a first sighting of ``conference`` be announced? Canvas keeps whole seconds, so
        a conference that started in the very second the source was first watched counts as
        after it: a start is never lost to the rounding (at worst one is announced that began
        a fraction of a second before the monitor looked)."""
        if conference.id not in self.unproven:
            return True
        started, baseline = conference.started_at, self.baseline_at
        return baseline is not None and started is not None and started >= _second(baseline)


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def vanished(
    previous: SourceState, snapshot: Snapshot, scope: Scope | None = None
) -> list[Conference]:
    """Tracked conferences the reading covers but lacks: their end must be confirmed."""
    return [
        t.conference
        for cid, t in previous.tracked.items()
        if cid not in snapshot and (scope is None or scope.covers(t.conference))
    ]


def end_reason(confirmation: Confirmation | None, now: datetime) -> EndReason | None:
    """Decide why a conference ended, or None when we should ask again on the next poll."""
    if confirmation is None:
        return None
    match confirmation.answer:
        case Answer.FAILED:
            return None
        case Answer.ABSENT:
            return EndReason.UNCONFIRMED
        case Answer.FOUND:
            conference = confirmation.conference
            if conference is None:
                return EndReason.UNCONFIRMED
            if conference.is_live(now):
                return EndReason.OUT_OF_SCOPE
            if conference.ended_at is not None:
                return EndReason.ENDED
            started = conference.started_at
            if started is not None and started < now - LIVE_WINDOW:
                return EndReason.EXPIRED
            return EndReason.UNCONFIRMED
        case _ as unreachable:
            assert_never(unreachable)


def diff(
    source: str,
    previous: SourceState,
    snapshot: Snapshot,
    confirmations: Mapping[int, Confirmation],
    *,
    now: datetime,
    announce_existing: bool = False,
    grace_polls: int = 3,
    prune: bool = False,
    scope: Scope | None = None,
) -> Outcome:
    """Compute the next state and its events from a complete snapshot.

    - A conference in the snapshot that we do not track starts (a new generation if we saw it
      end before). The first snapshot of a source is a baseline: silent unless
      ``announce_existing``.
    - A tracked conference missing from the snapshot ends when its confirmation gives a reason;
      a transient failure keeps it ``ENDING`` until ``grace_polls`` polls have passed, then it
      ends as ``unconfirmed``. If it comes back meanwhile it simply stays live.
    - With ``prune``, tombstones of conferences that can no longer come back are forgotten.
    - With a ``scope`` (a partial reading), only what it covers may end, and a first sighting
      is announced when the source is baselined and ``scope.news`` says so (baselines by time).
    """
    if not prune and _unchanged(previous, snapshot):
        return Outcome(previous)
    tracked = dict(previous.tracked)
    tombstones = dict(previous.tombstones)
    changed: set[int] = set()
    changed_tombs: set[int] = set()
    events: list[Event] = []

    def announce(conference: Conference, restart: bool) -> bool:
        if announce_existing:
            return True
        if scope is None:
            return previous.baselined
        return restart or scope.news(conference)

    for cid, conference in snapshot.items():
        current = tracked.get(cid)
        if current is None:
            tomb = tombstones.pop(cid, None)
            if tomb is not None:
                changed_tombs.add(cid)
            generation = 0 if tomb is None else tomb.generation + 1
            tracked[cid] = Tracked(conference, generation)
            changed.add(cid)
            restart = tomb is not None
            if announce(conference, restart):
                events.append(_started(source, conference, generation, now, restart=restart))
        elif current.phase is not Phase.LIVE or not current.conference.same(conference):
            tracked[cid] = Tracked(conference, current.generation)
            changed.add(cid)

    for cid, current in previous.tracked.items():
        if cid in snapshot or (scope is not None and not scope.covers(current.conference)):
            continue
        confirmation = confirmations.get(cid)
        reason = end_reason(confirmation, now)
        misses = current.misses + 1
        if reason is None and misses < grace_polls:
            tracked[cid] = Tracked(current.conference, current.generation, Phase.ENDING, misses)
            changed.add(cid)
            continue
        confirmed = confirmation.conference if confirmation is not None else None
        events.append(_ended(source, current, confirmed, reason or EndReason.UNCONFIRMED, now))
        del tracked[cid]
        changed.add(cid)
        tombstones[cid] = Tombstone(current.generation, now, current.conference.started_at)
        changed_tombs.add(cid)

    if prune:
        for cid in [cid for cid, tomb in tombstones.items() if not tomb.needed(now)]:
            del tombstones[cid]
            changed_tombs.add(cid)

    delta = Delta(frozenset(changed), frozenset(changed_tombs), not previous.baselined)
    if not delta:
        return Outcome(previous)
    return Outcome(SourceState(True, tracked, tombstones), tuple(events), delta)


def _unchanged(previous: SourceState, snapshot: Snapshot) -> bool:
    """Is ``snapshot`` exactly what ``previous`` tracks, live, the very same objects? Most polls
    find nothing new, and unchanged pages give back the conferences they gave the last time
    (``canvas.pages``): then there is nothing to diff, and no copies to make."""
    tracked = previous.tracked
    if not previous.baselined or len(snapshot) != len(tracked):
        return False
    live = Phase.LIVE  # looked up once: an enum member costs a lookup on each use (3.11)
    for cid, conference in snapshot.items():
        current = tracked.get(cid)
        if current is None or current.conference is not conference or current.phase is not live:
            return False
    return True


def _started_at(conference: Conference) -> str:
    value = conference.raw.get("started_at")
    return value if isinstance(value, str) else ""


def _started(
    source: str, conference: Conference, generation: int, now: datetime, *, restart: bool
) -> Event:
    started_at = _started_at(conference)
    return Event(
        id=event_id(source, conference.id, started_at, generation, EventType.STARTED),
        type=EventType.STARTED,
        source=source,
        conference=conference,
        started_at=started_at or None,
        ended_at=None,
        detected_at=now,
        restart=restart,
        reason=None,
    )


def _ended(
    source: str,
    current: Tracked,
    confirmed: Conference | None,
    reason: EndReason,
    now: datetime,
) -> Event:
    # The id derives from what we saw at the start, so it is stable whatever the confirmation says.
    started_at = _started_at(current.conference)
    shown = confirmed if confirmed is not None else current.conference
    ended_at = shown.raw.get("ended_at")
    return Event(
        id=event_id(source, current.conference.id, started_at, current.generation, EventType.ENDED),
        type=EventType.ENDED,
        source=source,
        conference=shown,
        started_at=_started_at(shown) or started_at or None,
        ended_at=ended_at if isinstance(ended_at, str) else None,  # Canvas's own value
        detected_at=now,
        restart=current.generation > 0,
        reason=reason,
    )
