"""Domain values: what we remember about conferences, and the events we emit.

Everything here is a frozen value. The conference itself, Canvas's object held as its text, is
``monitor.core.conference``; its names are re-exported here, where most callers look for them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from monitor.core.conference import (
    LIVE_WINDOW,
    Conference,
    format_time,
    int_or_none,
    parse_time,
)
from monitor.core.contexts import ContextInfo

__all__ = [
    "LIVE_WINDOW",
    "TOMBSTONE_FALLBACK",
    "TOMBSTONE_MARGIN",
    "Conference",
    "EndReason",
    "EnvelopeFacts",
    "Event",
    "EventType",
    "Phase",
    "Snapshot",
    "SourceState",
    "Tombstone",
    "Tracked",
    "envelope_facts",
    "event_id",
    "format_time",
    "parse_time",
]


class EventType(StrEnum):
    STARTED = "conference.started"
    ENDED = "conference.ended"


class EndReason(StrEnum):
    """Why a conference left the live list, as confirmed through its context endpoint."""

    ENDED = "ended"  # Canvas gives ended_at
    EXPIRED = "expired"  # still running, but past Canvas's 24 h live window
    OUT_OF_SCOPE = "out_of_scope"  # still live, but no longer visible to the token
    UNCONFIRMED = "unconfirmed"  # the confirmation failed or said nothing definite


class Phase(StrEnum):
    LIVE = "live"  # in the last complete snapshot
    ENDING = "ending"  # missing from a complete snapshot; its end is not confirmed yet


#: A complete poll result: every conference the source sees live, by id. A poll that did not
#: complete never produces one (invariant 1: absence from a *complete* snapshot is the only
#: trigger for an end).
Snapshot = Mapping[int, Conference]


@dataclass(frozen=True, slots=True)
class Tracked:
    """A conference we have announced as live (or saw live at the baseline)."""

    conference: Conference
    generation: int
    phase: Phase = Phase.LIVE
    misses: int = 0  # polls it has been missing without a definite confirmation


@dataclass(frozen=True, slots=True)
class Tombstone:
    """What we keep of an ended conference so that its return is a new generation.

    Canvas lists a conference as live only within a day of its ``started_at``, which restarts
    keep, so a tombstone is needed only that long: after it, the conference cannot come back.
    """

    generation: int
    ended: datetime  # when we emitted its end
    started_at: datetime | None  # Canvas's started_at of the conference

    def needed(self, now: datetime) -> bool:
        """Could the conference still come back live (so that its generation matters)?"""
        if self.started_at is not None:
            return self.started_at >= now - LIVE_WINDOW - TOMBSTONE_MARGIN
        return self.ended >= now - TOMBSTONE_FALLBACK


#: Clock skew between Canvas and us that tombstone pruning tolerates.
TOMBSTONE_MARGIN: Final = timedelta(days=1)
#: How long a tombstone without a usable ``started_at`` is kept.
TOMBSTONE_FALLBACK: Final = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class SourceState:
    """Everything the diff needs to remember about one source between polls."""

    baselined: bool = False
    tracked: Mapping[int, Tracked] = field(default_factory=dict)
    tombstones: Mapping[int, Tombstone] = field(default_factory=dict)

    def live(self) -> list[Conference]:
        """Conferences currently live (as of the last complete snapshot)."""
        return [t.conference for t in self.tracked.values() if t.phase is Phase.LIVE]


def event_id(
    source: str, conference_id: int, started_at: str, generation: int, kind: EventType
) -> str:
    """The stable id of one transition (invariant 3).

    The same inputs give the same id on every retry, replica and restart; any difference in
    source, conference, start, restart generation or transition gives a different id.
    """
    material = "\x1f".join((source, str(conference_id), started_at, str(generation), kind.value))
    return "evt_" + hashlib.sha256(material.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Event:
    """One ``conference.started`` or ``conference.ended``, as committed to the outbox."""

    id: str
    type: EventType
    source: str
    conference: Conference
    started_at: str | None
    ended_at: str | None
    detected_at: datetime
    restart: bool
    reason: EndReason | None
    context: ContextInfo | None = None  # the course or group, as far as the monitor knows it

    @property
    def key(self) -> str:
        """Events with the same key must reach a sink in order (started before ended)."""
        return f"{self.source}:{self.conference.id}"

    def envelope(self) -> dict[str, Any]:
        """The Standard Webhooks envelope; ``timestamp`` is the detection time."""
        detected = format_time(self.detected_at)
        return {
            "type": self.type.value,
            "timestamp": detected,
            "data": {
                "source": self.source,
                "conference": self.conference.raw,
                "started_at": self.started_at,
                "ended_at": self.ended_at,
                "detected_at": detected,
                "restart": self.restart,
                "reason": None if self.reason is None else self.reason.value,
                "context": self._context(),
            },
        }

    def _context(self) -> dict[str, Any]:
        """``data.context``: what is known of the conference's course or group (unknown: null)."""
        if self.context is not None:
            return self.context.envelope()
        conference = self.conference
        return {"type": conference.context_type, "id": conference.context_id, "name": None,
                "course_code": None, "account_id": None}  # fmt: skip

    def body(self) -> bytes:
        """The exact bytes POSTed on every attempt (signatures cover them byte for byte)."""
        return json.dumps(self.envelope(), separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class EnvelopeFacts:
    """What a sink's filter and its lag metric need from a committed event's body."""

    source: str
    conference_type: str
    context_type: str
    detected: float  # unix time of detection
    context_id: int | None = None  # the course or group (``data.context``, else the conference's)
    account_id: int | None = None  # its account, when the event names it


def envelope_facts(body: bytes) -> EnvelopeFacts | None:
    """Read those facts back from an event body; None if it is not an event of ours."""
    try:
        envelope = json.loads(body)
        data = envelope["data"]
        conference = data["conference"]
        detected = datetime.fromisoformat(envelope["timestamp"]).timestamp()
        context = data.get("context") if isinstance(data.get("context"), dict) else {}
        return EnvelopeFacts(
            str(data["source"]),
            str(conference.get("conference_type")),
            str(conference.get("context_type")),
            detected,
            int_or_none(context.get("id", conference.get("context_id"))),
            int_or_none(context.get("account_id")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
