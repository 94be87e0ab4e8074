"""Where a conference lives: a course or group, and the facts people read in a message.

A ``Context`` is the key (``("Course", 101)``); ``ContextInfo`` is what events, chat messages and
the console say about it: the course's real name (Canvas's ``original_name`` when ``name`` is the
token user's nickname), its code and its account. Facts come free with an account's course
listing; for other contexts one ``GET /api/v1/courses/:id`` (or ``groups/:id``) is asked once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

#: ``(context_type, context_id)`` as Canvas names them: ``("Course", 101)``, ``("Group", 7)``.
Context = tuple[str, int]

#: The token's own ``?state=live`` list, scheduled like a context (it has no id of its own).
LIVE_LIST: Final[Context] = ("LiveList", 0)
CONTEXT_TYPES: Final = ("Course", "Group")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class ContextInfo:
    """What is known about a course or group; fields unknown to the monitor are None."""

    type: str
    id: int
    name: str | None = None
    course_code: str | None = None
    account_id: int | None = None
    workflow_state: str | None = None  # courses: unpublished | available | completed | deleted
    start_at: str | None = None  # courses: when they begin and end (ISO 8601), if set
    end_at: str | None = None
    course_id: int | None = None  # a course's group: its course (routing by ``courses``)

    @property
    def key(self) -> Context:
        return (self.type, self.id)

    @classmethod
    def from_course(cls, raw: object) -> ContextInfo | None:
        """A Canvas Course object (an account listing's or ``courses/:id``), or None."""
        if not isinstance(raw, dict) or (course_id := _int(raw.get("id"))) is None:
            return None
        return cls(
            "Course",
            course_id,
            _text(raw.get("original_name")) or _text(raw.get("name")),
            _text(raw.get("course_code")),
            _int(raw.get("account_id")),
            _text(raw.get("workflow_state")),
            _text(raw.get("start_at")),
            _text(raw.get("end_at")),
        )

    @classmethod
    def from_group(cls, raw: object) -> ContextInfo | None:
        """A Canvas Group object, or None; a course's group is routed by its course's account."""
        if not isinstance(raw, dict) or (group_id := _int(raw.get("id"))) is None:
            return None
        name, account = _text(raw.get("name")), _int(raw.get("account_id"))
        return cls("Group", group_id, name, None, account, course_id=_int(raw.get("course_id")))

    def envelope(self) -> dict[str, Any]:
        """``data.context`` of an event (the contract in docs/design.md)."""
        return {
            "type": self.type,
            "id": self.id,
            "name": self.name,
            "course_code": self.course_code,
            "account_id": self.account_id,
        }

    def label(self) -> str:
        """What a person reads: ``BIO-101 · Introduction to Biology``, else ``Course 101``."""
        if self.name and self.course_code and self.course_code != self.name:
            return f"{self.course_code} · {self.name}"
        return self.name or self.course_code or f"{self.type} {self.id}"

    def dormant(self, now: datetime) -> bool:
        """Is this a course where students cannot take part now: not published, concluded, or
        outside its dates? Conferences there are rare, so the sweep visits it seldom."""
        if self.type != "Course":
            return False
        if self.workflow_state in ("unpublished", "completed", "created", "claimed"):
            return True
        start, end = _time(self.start_at), _time(self.end_at)
        return (end is not None and end < now) or (start is not None and start > now)

    def as_record(self) -> dict[str, Any]:
        """For the store (``from_record`` reads it back)."""
        return {
            **self.envelope(),
            "workflow_state": self.workflow_state,
            "start_at": self.start_at,
            "end_at": self.end_at,
            "course_id": self.course_id,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ContextInfo | None:
        context_type, context_id = record.get("type"), _int(record.get("id"))
        if context_type not in CONTEXT_TYPES or context_id is None:
            return None
        return cls(
            str(context_type),
            context_id,
            _text(record.get("name")),
            _text(record.get("course_code")),
            _int(record.get("account_id")),
            _text(record.get("workflow_state")),
            _text(record.get("start_at")),
            _text(record.get("end_at")),
            _int(record.get("course_id")),
        )
