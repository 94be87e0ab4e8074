"""A whole institution in one call: an account tree, thousands of courses, some conferences.

For the admin API (``POST /_sim/institution``), the demo and the benchmarks. Seeded, so the same
plan gives the same institution every time: faculties under the root account, departments under
them, courses spread over the deepest accounts, in a realistic mix of states and terms, and
optionally conferences created before they start (``started_at`` null) and some that are live.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from monitor.simulator.accounts import ROOT_ACCOUNT_ID
from monitor.simulator.errors import SimInputError
from monitor.simulator.records import CourseState, SimCourse

if TYPE_CHECKING:
    from monitor.simulator.world import World

#: Course ids of a built institution start above this (clear of the default 101 and 202).
COURSE_ID_FLOOR: Final = 1000
#: Teachers of built courses are users ``TEACHER_BASE + course id`` (initiators of conferences).
TEACHER_BASE: Final = 1_000_000
MAX_COURSES: Final = 200_000
_FACULTIES: Final = (
    "Faculty of Science", "Faculty of Arts", "Faculty of Engineering", "Faculty of Medicine",
    "School of Business", "School of Law", "Faculty of Education", "School of Music",
)  # fmt: skip
_SUBJECTS: Final = (
    ("Biology", "BIO"), ("Chemistry", "CHEM"), ("Physics", "PHYS"), ("Mathematics", "MATH"),
    ("History", "HIST"), ("Philosophy", "PHIL"), ("Economics", "ECON"), ("Psychology", "PSYC"),
    ("Computer Science", "CS"), ("Linguistics", "LING"), ("Sociology", "SOC"), ("Art", "ART"),
    ("Statistics", "STAT"), ("Geology", "GEOL"), ("Anatomy", "ANAT"), ("Accounting", "ACCT"),
)  # fmt: skip
_TITLES: Final = ("Introduction to {}", "{} I", "{} II", "Advanced {}", "Topics in {}",
                  "Seminar in {}", "Foundations of {}", "{} Lab")  # fmt: skip
#: (state, weight): most courses run, some are not published yet, some are over or deleted.
_STATES: Final = (
    (CourseState.AVAILABLE, 80),
    (CourseState.UNPUBLISHED, 9),
    (CourseState.COMPLETED, 9),
    (CourseState.DELETED, 2),
)


@dataclass(frozen=True, slots=True)
class InstitutionPlan:
    """``accounts``: how many sub-accounts each level has (``(4, 3)``: 4 faculties of 3
    departments each); ``conferences`` not yet started ones, ``live`` of them started now."""

    accounts: tuple[int, ...] = (4, 3)
    courses: int = 10_000
    seed: int = 1
    first_course_id: int | None = None
    terms: int = 3
    conferences: int = 0
    live: int = 0

    def __post_init__(self) -> None:
        if any(n < 1 for n in self.accounts) or len(self.accounts) > 6:
            raise SimInputError("accounts: at most 6 levels, each a positive fan-out")
        if _product(self.accounts) > 10_000:
            raise SimInputError("accounts: more than 10000 accounts at the deepest level")
        if not 0 <= self.courses <= MAX_COURSES:
            raise SimInputError(f"courses: must be 0..{MAX_COURSES}")
        if self.terms < 1:
            raise SimInputError("terms: must be at least 1")
        if self.conferences < 0 or not 0 <= self.live <= self.conferences:
            raise SimInputError("live: must be 0..conferences (and conferences >= 0)")


@dataclass(frozen=True, slots=True)
class InstitutionSummary:
    account_ids: list[int]
    leaf_account_ids: list[int]
    course_ids: range
    by_state: dict[str, int]
    conference_ids: list[int] = field(default_factory=list)
    live_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "accounts": len(self.account_ids),
            "account_ids": self.account_ids,
            "leaf_account_ids": self.leaf_account_ids,
            "courses": len(self.course_ids),
            "first_course_id": self.course_ids.start if self.course_ids else None,
            "last_course_id": self.course_ids[-1] if self.course_ids else None,
            "by_state": self.by_state,
            "conferences": len(self.conference_ids),
            "live": self.live_ids,
        }


def build_institution(world: World, plan: InstitutionPlan) -> InstitutionSummary:
    """Add ``plan``'s accounts (under root account 1) and courses to ``world``."""
    rng = random.Random(plan.seed)
    first = plan.first_course_id
    if first is None:
        first = max(COURSE_ID_FLOOR, world.catalog.max_id()) + 1
    ids = range(first, first + plan.courses)
    if any(world.catalog.find(i) is not None for i in ids):
        raise SimInputError(f"first_course_id: {first}..{ids.stop - 1} overlap existing courses")
    created, leaves = _accounts(world, plan, rng)
    now = world.now()
    terms = _terms(now, plan.terms)
    courses = [_course(i, rng.choice(leaves), rng, terms, now) for i in ids]
    world.add_courses(courses)
    conference_ids, live_ids = _conferences(world, plan, rng, courses)
    counts: dict[str, int] = {}
    for course in courses:
        counts[str(course.workflow_state)] = counts.get(str(course.workflow_state), 0) + 1
    return InstitutionSummary(created, leaves, ids, counts, conference_ids, live_ids)


def _accounts(
    world: World, plan: InstitutionPlan, rng: random.Random
) -> tuple[list[int], list[int]]:
    created: list[int] = []
    level = [ROOT_ACCOUNT_ID]
    for depth, fan_out in enumerate(plan.accounts):
        below = []
        for parent in level:
            for n in range(fan_out):
                name = _account_name(depth, n, parent, rng)
                below.append(world.add_account(name, parent).id)
        created += below
        level = below
    return created, level


def _account_name(depth: int, n: int, parent: int, rng: random.Random) -> str:
    if depth == 0:
        return _FACULTIES[n] if n < len(_FACULTIES) else f"Faculty {n + 1}"
    if depth == 1:
        subject = _SUBJECTS[(parent * 7 + n) % len(_SUBJECTS)][0]
        return f"Department of {subject}" + (f" {n + 1}" if n >= len(_SUBJECTS) else "")
    return f"Program {parent}.{n + 1} ({rng.choice(_SUBJECTS)[0]})"


def _terms(now: datetime, count: int) -> dict[int, tuple[datetime, datetime]]:
    """Term 1 is running now, term 2 ran before it, term 3 comes next, and so on alternately."""
    found = {}
    for term in range(1, count + 1):
        shift = (term // 2) * (-1 if term % 2 == 0 else 1) * 150
        start = now - timedelta(days=60) + timedelta(days=shift)
        found[term] = (start, start + timedelta(days=120))
    return found


def _course(
    course_id: int,
    account_id: int,
    rng: random.Random,
    terms: dict[int, tuple[datetime, datetime]],
    now: datetime,
) -> SimCourse:
    subject, code = rng.choice(_SUBJECTS)
    state = rng.choices([s for s, _ in _STATES], weights=[w for _, w in _STATES])[0]
    term = rng.randint(1, len(terms))
    start, end = terms[term]
    return SimCourse(
        id=course_id,
        account_id=account_id,
        name=rng.choice(_TITLES).format(subject),
        course_code=f"{code}-{rng.randint(100, 499)}",
        created_at=now,
        workflow_state=state,
        enrollment_term_id=term,
        start_at=start,
        end_at=end,
    )


def _conferences(
    world: World, plan: InstitutionPlan, rng: random.Random, courses: list[SimCourse]
) -> tuple[list[int], list[int]]:
    running = [c for c in courses if c.workflow_state is CourseState.AVAILABLE]
    if plan.conferences and not running:
        raise SimInputError("conferences: no available course to hold them")
    made = []
    for n in range(plan.conferences):
        course = rng.choice(running)
        conf = world.create_conference(
            context_id=course.id,
            title=f"{course.course_code}: {('Lecture', 'Office Hours', 'Review')[n % 3]}",
            participants=(TEACHER_BASE + course.id,),
            duration=rng.choice((45, 60, 90, None)),
        )
        made.append(conf.id)
    live = [world.start(i).id for i in made[: plan.live]]
    return made, live


def _product(numbers: tuple[int, ...]) -> int:
    total = 1
    for n in numbers:
        total *= n
    return total
