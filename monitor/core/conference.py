"""A Canvas conference as the monitor holds it: Canvas's JSON text, packed, with typed views.

The Canvas object is kept unmodified, as its compact JSON text (``Conference.data``); typed
views of the few fields the monitor reasons about are computed on demand, because most polls
only need the id and an equality check.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from sys import intern
from typing import Any, Final

from monitor.core import canvas_json
from monitor.core.contexts import Context

#: Canvas's ``live`` scope: started within the last day and not (yet) ended.
LIVE_WINDOW: Final = timedelta(days=1)


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


def int_or_none(value: object) -> int | None:
    """An integer that is not a bool, else None (Canvas ids, as JSON may carry them)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# Packing is kept because a target needs it (``python3 dev.py bench``, many sources: 1,000
# sources x 20 live conferences, 2026-12-07): held as plain text (the plain form, before even
# adding typed fields parsed once), the service peaked at 101 MB; packed, 90 MB; target
# <= 100 MB (docs/performance.md).

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
    def from_api(cls, raw: object) -> Conference | None:
        """Accept any object with an integer ``id``; None for records we cannot track."""
        if not isinstance(raw, dict):
            return None
        conference_id = int_or_none(raw.get("id"))
        if conference_id is None:
            return None
        conference = cls.__new__(cls)
        conference._set(conference_id, raw, canvas_json.encode(raw))
        return conference

    @property
    def data(self) -> bytes:
        """The Canvas object as compact JSON text (UTF-8, ``canvas_json.encode``)."""
        return _unpack(self.packed)

    @property
    def raw(self) -> dict[str, Any]:
        """The Canvas object, parsed anew (so callers may keep or change it)."""
        value: dict[str, Any] = json.loads(self.data)
        return value

    def same(self, other: Conference) -> bool:
        """Is ``other`` the same Canvas object? (Equal texts, or, should Canvas have sent an
        equal object with its keys in another order, equal values.)"""
        return self.packed == other.packed or self.raw == other.raw

    @property
    def started_at(self) -> datetime | None:
        return parse_time(self.raw.get("started_at"))

    @property
    def ended_at(self) -> datetime | None:
        return parse_time(self.raw.get("ended_at"))

    @property
    def context_id(self) -> int | None:
        return int_or_none(self.raw.get("context_id"))

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
