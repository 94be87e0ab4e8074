"""The fake Canvas's ground truth: users, tokens, the institution and its conferences.

Pure in-memory state with no I/O, so tests can drive it directly and the HTTP layer only
translates. The queries (``live_for_user``, ``index``) follow Canvas's SQL exactly: the
``live`` scope, membership, participant rows and ``created_at DESC, id DESC``. Conferences are
indexed by context and by participant, so with an institution's tens of thousands of them a
course's index or a user's live list reads only its own.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from monitor.simulator import serialize
from monitor.simulator.builder import InstitutionPlan, InstitutionSummary, build_institution
from monitor.simulator.directory import DEFAULT_USER_ID, ContextKey
from monitor.simulator.errors import SimInputError, SimNotFoundError
from monitor.simulator.institution import Institution
from monitor.simulator.records import (
    ContextType,
    Participant,
    ParticipationType,
    SimConference,
    SimRecording,
)
from monitor.simulator.records import is_live as _is_live

Clock = Callable[[], datetime]

FIRST_CONFERENCE_ID: Final = 1000


def _real_now() -> datetime:
    return datetime.now(UTC)


def whole_seconds(moment: datetime) -> datetime:
    """Canvas stores and emits timestamps in whole UTC seconds."""
    if moment.tzinfo is None:
        raise SimInputError(f"timestamp {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC).replace(microsecond=0)


class World(Institution):
    """Everything the fake Canvas knows. Conference mutators return the changed conference."""

    def __init__(self, clock: Clock | None = None, *, base_url: str = "http://canvas.sim") -> None:
        super().__init__()
        self.clock: Clock = clock or _real_now
        self.base_url = base_url
        self.reset()

    def reset(self) -> None:
        """Back to the default set-up: user 1, token ``sim-token``, courses 101/202, group 7, in
        root account 1, with its admins' tokens ``admin-token`` and ``viewer-token``."""
        #: False models a Canvas without a conference plugin: ``for_user`` answers ``[]``, a
        #: context's index redirects (302) to the context's page.
        self.plugins_configured = True
        self._conferences: dict[int, SimConference] = {}
        self._ids_by_context: dict[ContextKey, set[int]] = {}
        self._ids_by_user: dict[int, set[int]] = {}
        self._next_id = FIRST_CONFERENCE_ID
        self._reset_directory()

    def now(self) -> datetime:
        return whole_seconds(self.clock())

    def build_institution(self, plan: InstitutionPlan | None = None) -> InstitutionSummary:
        """Add a whole scripted institution (accounts, courses, conferences) to this world."""
        return build_institution(self, plan or InstitutionPlan())

    # conferences

    def create_conference(
        self,
        *,
        context_type: ContextType = "Course",
        context_id: int = 101,
        title: str = "Sim Conference",
        conference_type: str = "BigBlueButton",
        duration: int | None = 60,
        participants: Iterable[int] = (DEFAULT_USER_ID,),
        conference_id: int | None = None,
        created_at: datetime | None = None,
        description: str | None = None,
        record: bool = False,
        has_calendar_event: bool = False,
    ) -> SimConference:
        """A new, not yet started conference; the first participant is its initiator."""
        self.context(context_type, context_id)
        if context_type == "Course" and not self.course_alive(context_id):
            raise SimInputError(f"course {context_id} is deleted")
        if duration is not None and duration < 0:
            raise SimInputError("duration must be a non-negative number of minutes or null")
        conf_id = self._next_id if conference_id is None else conference_id
        if conf_id in self._conferences:
            raise SimInputError(f"conference {conf_id} already exists")
        self._next_id = max(self._next_id, conf_id + 1)
        users = list(dict.fromkeys(participants))
        rows = tuple(
            Participant(uid, ParticipationType.INITIATOR if i == 0 else ParticipationType.INVITEE)
            for i, uid in enumerate(users)
        )
        for uid in users:
            self.add_user(uid)
        digest = hashlib.sha256(f"conference-{conf_id}".encode()).hexdigest()[:24]
        conf = SimConference(
            id=conf_id,
            context_type=context_type,
            context_id=context_id,
            title=title,
            conference_type=conference_type,
            duration=duration,
            created_at=self.now() if created_at is None else whole_seconds(created_at),
            participants=rows,
            conference_key=f"instructure_web_conference_{digest}",
            description=description,
            record=record,
            has_calendar_event=has_calendar_event,
        )
        self._conferences[conf_id] = conf
        self._ids_by_context.setdefault((context_type, context_id), set()).add(conf_id)
        for uid in users:
            self._ids_by_user.setdefault(uid, set()).add(conf_id)
        return conf

    def get(self, conf_id: int) -> SimConference:
        try:
            return self._conferences[conf_id]
        except KeyError:
            raise SimNotFoundError(f"no conference {conf_id}") from None

    def conferences(self) -> list[SimConference]:
        """Every conference, in Canvas's order."""
        return _sorted(self._conferences.values())

    def start(self, conf_id: int, at: datetime | None = None) -> SimConference:
        """First join sets ``started_at`` (never moved afterwards); any join clears ``ended_at``."""
        conf = self.get(conf_id)
        moment = self.now() if at is None else whole_seconds(at)
        started = conf.started_at or moment
        start_at = conf.start_at or started
        end_at = conf.end_at
        if end_at is None and conf.duration is not None:
            end_at = start_at + timedelta(minutes=conf.duration)
        joiner = conf.users[0] if conf.users else None  # the first participant joins
        return self._put(
            conf,
            started_at=started,
            ended_at=None,
            start_at=start_at,
            end_at=end_at,
            create_time_ms=conf.create_time_ms or int(moment.timestamp() * 1000),
            generation=conf.generation + int(conf.ended_at is not None),
            participants=_with_kind(conf.participants, joiner, ParticipationType.ATTENDEE),
        )

    def end(self, conf_id: int, at: datetime | None = None) -> SimConference:
        """Set ``ended_at`` (kept if already ended); BBB conferences with ``record`` get one."""
        conf = self.get(conf_id)
        if conf.ended_at is not None:
            return conf
        moment = self.now() if at is None else whole_seconds(at)
        if conf.started_at is not None and moment < conf.started_at:
            raise SimInputError("ended_at must not be before started_at")
        recordings = conf.recordings
        if conf.record and conf.started_at is not None and conf.conference_type == "BigBlueButton":
            minutes = int((moment - conf.started_at).total_seconds() // 60)
            begun_ms = int(conf.started_at.timestamp() * 1000)
            recording_id = f"{conf.conference_key}-{begun_ms}-{len(recordings)}"
            recordings = (*recordings, SimRecording(recording_id, conf.title, minutes, begun_ms))
        return self._put(conf, ended_at=moment, recordings=recordings)

    def restart(self, conf_id: int) -> SimConference:
        """Clear ``ended_at``; the conference comes back live with its original ``started_at``."""
        conf = self.get(conf_id)
        if conf.started_at is None:
            raise SimInputError(f"conference {conf_id} never started, so it cannot restart")
        return self.start(conf_id)

    def add_participant(self, conf_id: int, user_id: int) -> SimConference:
        conf = self.get(conf_id)
        if user_id in conf.users:
            return conf
        self.add_user(user_id)
        self._ids_by_user.setdefault(user_id, set()).add(conf_id)
        row = Participant(user_id, ParticipationType.INVITEE)
        return self._put(conf, participants=(*conf.participants, row))

    def remove_participant(self, conf_id: int, user_id: int) -> SimConference:
        conf = self.get(conf_id)
        rows = tuple(p for p in conf.participants if p.user_id != user_id)
        self._ids_by_user.get(user_id, set()).discard(conf_id)
        return self._put(conf, participants=rows)

    def delete_conference(self, conf_id: int) -> None:
        conf = self.get(conf_id)
        del self._conferences[conf_id]
        self._ids_by_context[(conf.context_type, conf.context_id)].discard(conf_id)
        for uid in conf.users:
            self._ids_by_user[uid].discard(conf_id)

    # queries, as Canvas's controllers run them

    def is_live(self, conf: SimConference, now: datetime | None = None) -> bool:
        return _is_live(conf, self.now() if now is None else now)

    def for_user(self, user_id: int, *, live: bool = False) -> list[SimConference]:
        """``GET /api/v1/conferences``: the user's contexts, the user's participant rows."""
        if not self.plugins_configured:
            return []
        now = self.now()
        return _sorted(
            c
            for c in self._of(self._ids_by_user.get(user_id, ()))
            if self.is_member(user_id, c.context_type, c.context_id)
            and user_id in c.users
            and (not live or _is_live(c, now))
        )

    def live_for_user(self, user_id: int) -> list[SimConference]:
        return self.for_user(user_id, live=True)

    def index(self, context_type: ContextType, context_id: int) -> list[SimConference]:
        """Every conference of one course or group (what a teacher's index shows)."""
        self.context(context_type, context_id)
        return _sorted(self._of(self._ids_by_context.get((context_type, context_id), ())))

    def _of(self, ids: Iterable[int]) -> Iterable[SimConference]:
        return (self._conferences[i] for i in ids)

    def api_json(self, conf: SimConference, *, base_url: str | None = None) -> dict[str, Any]:
        return serialize.conference_json(conf, base_url or self.base_url)

    def _put(self, conf: SimConference, **changes: Any) -> SimConference:
        new = dataclasses.replace(conf, **changes)
        self._conferences[conf.id] = new
        return new


def _sorted(confs: Iterable[SimConference]) -> list[SimConference]:
    return sorted(confs, key=lambda c: c.sort_key, reverse=True)


def _with_kind(
    rows: tuple[Participant, ...], user_id: int | None, kind: ParticipationType
) -> tuple[Participant, ...]:
    return tuple(Participant(p.user_id, kind) if p.user_id == user_id else p for p in rows)
