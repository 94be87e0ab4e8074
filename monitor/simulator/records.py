"""The simulator's values: conferences, participants, recordings, contexts, tokens, and the
institution around them (accounts, courses, groups).

All frozen: the world replaces a record to change it, so a value a test holds never changes
under its feet (ask ``World.get`` for the current one) and a JSON page is built from one
consistent snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Literal

ContextType = Literal["Course", "Group"]
CONTEXT_TYPES: Final[tuple[ContextType, ...]] = ("Course", "Group")

#: Canvas's ``live`` scope: ``started_at BETWEEN now() - 1 day AND now()``.
LIVE_WINDOW: Final = timedelta(days=1)


class ParticipationType(StrEnum):
    """Canvas's ``web_conference_participants.participation_type``."""

    INITIATOR = "initiator"
    INVITEE = "invitee"
    ATTENDEE = "attendee"


class TokenState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Participant:
    user_id: int
    kind: ParticipationType


@dataclass(frozen=True, slots=True)
class SimRecording:
    """A BigBlueButton recording; Canvas passes BBB's epoch-millisecond ``startTime`` through."""

    recording_id: str
    title: str
    duration_minutes: int
    created_at_ms: int
    playback_url: str | None = None


@dataclass(frozen=True, slots=True)
class SimContext:
    context_type: ContextType
    context_id: int
    conferences_tab: bool = True
    members: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class SimToken:
    user_id: int
    state: TokenState = TokenState.ACTIVE


@dataclass(frozen=True, slots=True)
class SimConference:
    """One web conference as Canvas stores it (timestamps are whole-second UTC)."""

    id: int
    context_type: ContextType
    context_id: int
    title: str
    conference_type: str
    duration: int | None
    created_at: datetime
    participants: tuple[Participant, ...]
    conference_key: str
    description: str | None = None
    record: bool = False
    has_calendar_event: bool = False
    started_at: datetime | None = None
    ended_at: datetime | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    create_time_ms: int | None = None
    recordings: tuple[SimRecording, ...] = ()
    #: How many times the conference was restarted after an end (ground truth for tests).
    generation: int = 0

    @property
    def users(self) -> tuple[int, ...]:
        return tuple(p.user_id for p in self.participants)

    @property
    def invitees(self) -> tuple[int, ...]:
        return self._of(ParticipationType.INVITEE)

    @property
    def attendees(self) -> tuple[int, ...]:
        return self._of(ParticipationType.ATTENDEE)

    @property
    def long_running(self) -> bool:
        return self.duration is None

    @property
    def sort_key(self) -> tuple[datetime, int]:
        """Canvas sorts conference lists by ``created_at DESC, id DESC``: reverse this key."""
        return (self.created_at, self.id)

    def _of(self, kind: ParticipationType) -> tuple[int, ...]:
        return tuple(p.user_id for p in self.participants if p.kind is kind)


class CourseState(StrEnum):
    """A course's ``workflow_state`` as the API shows it (``created``/``claimed`` read
    ``unpublished``); a deleted course stays in the database but is gone from the API."""

    UNPUBLISHED = "unpublished"
    AVAILABLE = "available"
    COMPLETED = "completed"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class SimAccount:
    """An account of the tree; the root has no parent and (in Canvas's JSON) no root id."""

    id: int
    name: str
    parent_account_id: int | None = None
    root_account_id: int | None = None


@dataclass(frozen=True, slots=True)
class SimCourse:
    """A course's catalogue entry; its members and tab live in its ``SimContext``."""

    id: int
    account_id: int
    name: str
    course_code: str
    created_at: datetime
    workflow_state: CourseState = CourseState.AVAILABLE
    enrollment_term_id: int = 1
    start_at: datetime | None = None
    end_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SimGroup:
    """A group belongs to a course, or (``course_id`` None) to an account."""

    id: int
    name: str
    course_id: int | None = None
    account_id: int | None = None


def is_live(conf: SimConference, now: datetime) -> bool:
    """Canvas's ``live`` scope, to the letter (BETWEEN is inclusive at both ends)."""
    started = conf.started_at
    if started is None or not (now - LIVE_WINDOW <= started <= now):
        return False
    return conf.ended_at is None or conf.ended_at > now
