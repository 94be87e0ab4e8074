"""Which tier a context belongs in, from what its last listing showed; and how the store
remembers it (``WatchStore.context_marks``: a letter per context, "read at least once").

Pure rules, apart from the watch's I/O, so the schedule's inputs can be read in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Final

from monitor.core.contexts import Context, ContextInfo
from monitor.core.models import LIVE_WINDOW, Conference, parse_time
from monitor.core.purpose import Purpose
from monitor.watch.schedule import Tier

MARKS: Final = {Tier.LIVE: "l", Tier.PINNED: "p", Tier.WAITING: "w", Tier.QUIET: "q",
                Tier.DORMANT: "d"}  # fmt: skip
TIERS: Final = {mark: tier for tier, mark in MARKS.items()}
PURPOSES: Final = {Tier.LIVE: Purpose.LIVE, Tier.PINNED: Purpose.PINNED,
                   Tier.WAITING: Purpose.WAITING, Tier.QUIET: Purpose.SWEEP,
                   Tier.DORMANT: Purpose.SWEEP}  # fmt: skip
#: A conference scheduled (``start_at``) further from now than this is not about to start:
#: Canvas keeps never-started conferences for ever, and most of them never will.
SCHEDULED_NEAR: Final = timedelta(days=1)


def can_go_live(conference: Conference, now: datetime) -> bool:
    """Could this conference produce a start soon: created and not started (unless scheduled
    for another day), or started within Canvas's 24 h window, from which a re-join restarts
    it."""
    raw = conference.raw
    started = parse_time(raw.get("started_at"))
    if started is not None:
        return started >= now - LIVE_WINDOW
    if parse_time(raw.get("ended_at")) is not None:
        return False
    scheduled = parse_time(raw.get("start_at"))
    return scheduled is None or abs(scheduled - now) <= SCHEDULED_NEAR


def tier_of(
    context: Context,
    listing: Iterable[Conference],
    *,
    pinned: bool,
    live: bool,
    info: ContextInfo | None,
    now: datetime,
) -> Tier:
    """The tier a context earns from its listing (``live``: a conference tracked there)."""
    if pinned:
        return Tier.PINNED
    if live:
        return Tier.LIVE
    if any(can_go_live(c, now) for c in listing):
        return Tier.WAITING
    if context[0] == "Course" and info is not None and info.dormant(now):
        return Tier.DORMANT
    return Tier.QUIET


def remembered(mark: str | None, info: ContextInfo, now: datetime) -> Tier:
    """The tier a discovered context starts in: its mark (a restart goes on where the last
    process was), else quiet, or dormant where students cannot take part now (re-judged at
    every discovery, so a new term's courses wake up)."""
    tier = TIERS.get(mark or "")
    if tier is None or tier.swept:
        return Tier.DORMANT if info.dormant(now) else Tier.QUIET
    return tier


def key(context: Context) -> str:
    return f"{context[0]}:{context[1]}"


def parse_marks(marks: Mapping[str, str]) -> dict[Context, str]:
    found = {}
    for text, mark in marks.items():
        kind, _, number = text.partition(":")
        if number.isdigit():
            found[(kind, int(number))] = mark
    return found
