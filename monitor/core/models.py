"""Domain values: Canvas conferences, what we remember about them, and the events we emit.

Everything here is a frozen value. The Canvas object is kept exactly as Canvas sent it
(``Conference.data``, its JSON text); typed views of the few fields the monitor reasons about
are computed on demand, because most polls only need the id and an equality check.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from sys import intern
from typing import Any, Final

from monitor.core import canvas_json
from monitor.core.contexts import Context, ContextInfo

#: Canvas's ``live`` scope: started within the last day and not (yet) ended.
LIVE_WINDOW: Final = timedelta(days=1)


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


def parse_time(value: object) -> datetime | None:
    """Parse a Canvas timestamp leniently (``Z``, offsets, fractions); None when absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_time(value: datetime) -> str:
    """Whole-second UTC ISO 8601 with ``Z``, the way Canvas writes timestamps."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _label(value: object) -> str | None:
    """A non-empty string, shared with every equal one (label values repeat on every record)."""
    return intern(value) if type(value) is str and value else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


#: A Canvas Conference object with its values left out: the preset dictionary of the packing
#: below, so that a conference's keys, which are most of its text, cost a few bytes each.
_SHAPE: Final = (
    b'{"id":,"title":"","conference_type":"BigBlueButton","description":null,"duration":,'
    b'"ended_at":null,"started_at":"","users":[],"invitees":[],"attendees":[],'
    b'"long_running":false,"recordings":[],"join_url":null,"has_advanced_settings":false,'
    b'"conference_key":"instructure_web_conference_","context_type":"Course","context_id":,'
    b'"has_calendar_event":0,"start_at":"","end_at":"","user_settings":{"record":false,'
    b'"scheduled_date":null,"share_webcam":true,"share_other_webcams":true,'
    b'"share_microphone":true,"send_public_chat":true,"send_private_chat":true,'
    b'"enable_waiting_room":false,"create_time":},"url":"https:///courses//conferences/"}'
)
#: Raw deflate, a 2 kB window and little state: a Canvas object is a kilobyte or so, and a
#: packer is made per object (5 us; unpacking takes 2). 775 bytes of text become about 140.
_WINDOW_BITS: Final = -11
_MEMORY_LEVEL: Final = 4


def _pack(text: bytes) -> bytes:
    """``text`` deflated against ``_SHAPE``. The same text always packs to the same bytes, so
    packed objects compare as their texts do."""
    packer = zlib.compressobj(
        6, zlib.DEFLATED, _WINDOW_BITS, _MEMORY_LEVEL, zlib.Z_DEFAULT_STRATEGY, _SHAPE
    )
    return packer.compress(text) + packer.flush()


def _unpack(packed: bytes) -> bytes:
    unpacker = zlib.decompressobj(_WINDOW_BITS, _SHAPE)
    return unpacker.decompress(packed) + unpacker.flush()


@dataclass(frozen=True, slots=True, init=False)
class Conference:
    """A Canvas Conference object, unmodified, plus typed views of the fields we use.

    The object is held as its JSON text, packed (``packed``; ``data`` is the text), not as
    parsed dicts and lists: the garbage collector, which walks every live dict and list, has
    next to nothing to walk, and a campus's 20,000 tracked conferences take 5 MB rather than
    44 MB parsed or 18 MB as text (see ``_pack``). ``raw`` parses it again (a new dict each
    time), which events, pages and confirmations need; an idle poll never does. The two label
    values the live gauge needs are read once, when the object is made.
    """

    id: int
    packed: bytes = field(compare=False, repr=False)
    conference_type: str = field(compare=False)
    context_type: str | None = field(compare=False)

    def __init__(self, id: int, raw: Mapping[str, Any]) -> None:
        self._set(id, raw, canvas_json.encode(raw))

    def _set(self, conference_id: int, raw: Mapping[str, Any], data: bytes) -> None:
        object.__setattr__(self, "id", conference_id)
        object.__setattr__(self, "packed", _pack(data))
        object.__setattr__(self, "conference_type", _label(raw.get("conference_type")) or "unknown")
        object.__setattr__(self, "context_type", _label(raw.get("context_type")))

    @classmethod
    def from_api(cls, raw: object, data: bytes | None = None) -> Conference | None:
        """Accept any object with an integer ``id``; None for records we cannot track.

        ``data`` is ``raw``'s JSON text when the caller has it (``canvas_json.decode_list``),
        so that it need not be encoded again."""
        if not isinstance(raw, dict):
            return None
        conference_id = _int_or_none(raw.get("id"))
        if conference_id is None:
            return None
        conference = cls.__new__(cls)
        conference._set(conference_id, raw, canvas_json.encode(raw) if data is None else data)
        return conference

    @property
    def data(self) -> bytes:
        """The Canvas object's JSON text, as Canvas sent it (UTF-8)."""
        return _unpack(self.packed)

    @property
    def raw(self) -> dict[str, Any]:
        """The Canvas object, parsed anew (so callers may keep or change it)."""
        value: dict[str, Any] = json.loads(self.data)
        return value

    def same(self, other: Conference) -> bool:
        """Is ``other`` the same Canvas object? (Equal texts, or, should Canvas have written
        an equal object differently, equal values.)"""
        return self.packed == other.packed or self.raw == other.raw

    @property
    def started_at(self) -> datetime | None:
        return parse_time(self.raw.get("started_at"))

    @property
    def ended_at(self) -> datetime | None:
        return parse_time(self.raw.get("ended_at"))

    @property
    def context_id(self) -> int | None:
        return _int_or_none(self.raw.get("context_id"))

    @property
    def context(self) -> Context | None:
        """``("Course", 101)``: where the conference lives, when Canvas says."""
        context_id = self.context_id
        if self.context_type is None or context_id is None:
            return None
        return (self.context_type, context_id)

    @property
    def title(self) -> str:
        value = self.raw.get("title")
        return value if isinstance(value, str) else ""

    def is_live(self, now: datetime) -> bool:
        """Canvas's own ``live`` scope, evaluated at ``now``.

        ``started_at BETWEEN now - 1 day AND now AND (ended_at IS NULL OR ended_at > now)``
        """
        raw = self.raw
        started = parse_time(raw.get("started_at"))
        if started is None or not (now - LIVE_WINDOW <= started <= now):
            return False
        ended = parse_time(raw.get("ended_at"))
        return ended is None or ended > now


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
            _int_or_none(context.get("id", conference.get("context_id"))),
            _int_or_none(context.get("account_id")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
