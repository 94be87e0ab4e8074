"""The course catalogue: courses by account, kept sorted by id, and account-wide listings.

An institution has tens of thousands of courses and a monitor reads them a hundred at a time,
so a listing page must not walk every course. Each account keeps its own courses' ids sorted
(insertion with ``bisect``); a listing merges the lists of an account's subtree and filters them
once, then serves every page of the crawl by slicing that result. The result is cached until
the catalogue changes (``version``), so a crawl of 100 pages costs one pass, not 100.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from monitor.simulator.accounts import AccountTree
from monitor.simulator.errors import SimInputError, SimNotFoundError
from monitor.simulator.records import CourseState, SimCourse, SimGroup

#: Canvas's default for ``GET /accounts/:id/courses``: everything but deleted courses.
LISTED_BY_DEFAULT: Final = frozenset(CourseState) - {CourseState.DELETED}
#: How many distinct listings (account, filter) stay cached.
CACHED_LISTINGS: Final = 64


@dataclass(frozen=True, slots=True)
class CourseFilter:
    """What ``state[]``, ``published`` and ``enrollment_term_id`` leave of a listing."""

    states: frozenset[CourseState] = LISTED_BY_DEFAULT
    enrollment_term_id: int | None = None

    def admits(self, course: SimCourse) -> bool:
        return course.workflow_state in self.states and (
            self.enrollment_term_id is None or course.enrollment_term_id == self.enrollment_term_id
        )


class Catalog:
    """Courses and groups, indexed by account (courses) and by course (groups)."""

    def __init__(self, accounts: AccountTree) -> None:
        self.accounts = accounts
        self._courses: dict[int, SimCourse] = {}
        self._by_account: dict[int, list[int]] = {}
        self._groups: dict[int, SimGroup] = {}
        self._groups_by_course: dict[int, list[int]] = {}
        self._nicknames: dict[tuple[int, int], str] = {}
        self._listings: OrderedDict[tuple[int, CourseFilter], list[int]] = OrderedDict()
        #: Bumped by every change that can alter a listing; cached listings of older ones go.
        self.version = 0

    # courses

    def add_course(self, course: SimCourse) -> SimCourse:
        if course.id in self._courses:
            raise SimInputError(f"course {course.id} already exists")
        self.accounts.get(course.account_id)
        self._courses[course.id] = course
        self._file(course.id, course.account_id)
        self._changed()
        return course

    def add_courses_in_order(self, courses: Sequence[SimCourse]) -> None:
        """Many new courses at once (an institution's worth): one sort per account at the end."""
        touched: set[int] = set()
        for course in courses:
            if course.id in self._courses:
                raise SimInputError(f"course {course.id} already exists")
            self.accounts.get(course.account_id)
            self._courses[course.id] = course
            self._by_account.setdefault(course.account_id, []).append(course.id)
            touched.add(course.account_id)
        for account_id in touched:
            self._by_account[account_id].sort()
        self._changed()

    def course(self, course_id: int) -> SimCourse:
        try:
            return self._courses[course_id]
        except KeyError:
            raise SimNotFoundError(f"no course {course_id}") from None

    def find(self, course_id: int) -> SimCourse | None:
        return self._courses.get(course_id)

    def __len__(self) -> int:
        return len(self._courses)

    def all(self) -> list[SimCourse]:
        """Every course, deleted ones too, by id."""
        return [self._courses[i] for i in sorted(self._courses)]

    def max_id(self) -> int:
        return max(self._courses, default=0)

    def counts(self) -> dict[str, int]:
        """How many courses are in each state."""
        found = dict.fromkeys(map(str, CourseState), 0)
        for course in self._courses.values():
            found[str(course.workflow_state)] += 1
        return found

    def update(self, course_id: int, **changes: Any) -> SimCourse:
        """Change a course's fields; a new ``account_id`` moves it (its groups go with it)."""
        old = self.course(course_id)
        new = dataclasses.replace(old, **changes)
        if new.account_id != old.account_id:
            self.accounts.get(new.account_id)
            self._unfile(course_id, old.account_id)
            self._file(course_id, new.account_id)
        self._courses[course_id] = new
        self._changed()
        return new

    def listing(self, account_id: int, wanted: CourseFilter) -> list[int]:
        """Ids of the courses of ``account_id`` and its sub-accounts that ``wanted`` admits,
        ascending; the same list object until the catalogue changes (do not modify it)."""
        key = (account_id, wanted)
        cached = self._listings.get(key)
        if cached is not None:
            self._listings.move_to_end(key)
            return cached
        lists = [self._by_account.get(a, []) for a in self.accounts.subtree(account_id)]
        merged = lists[0] if len(lists) == 1 else heapq.merge(*lists)
        courses = self._courses
        found = [i for i in merged if wanted.admits(courses[i])]
        self._listings[key] = found
        while len(self._listings) > CACHED_LISTINGS:
            self._listings.popitem(last=False)
        return found

    # nicknames: per user, as Canvas's course nicknames are

    def set_nickname(self, user_id: int, course_id: int, nickname: str | None) -> None:
        self.course(course_id)
        if nickname:
            self._nicknames[(user_id, course_id)] = nickname
        else:
            self._nicknames.pop((user_id, course_id), None)

    def nickname(self, user_id: int, course_id: int) -> str | None:
        return self._nicknames.get((user_id, course_id))

    # groups

    def add_group(self, group: SimGroup) -> SimGroup:
        old = self._groups.get(group.id)
        if old is not None and old.course_id is not None:
            self._groups_by_course[old.course_id].remove(group.id)
        if group.course_id is not None:
            self.course(group.course_id)
            bisect.insort(self._groups_by_course.setdefault(group.course_id, []), group.id)
        self._groups[group.id] = group
        return group

    def group(self, group_id: int) -> SimGroup:
        try:
            return self._groups[group_id]
        except KeyError:
            raise SimNotFoundError(f"no group {group_id}") from None

    def find_group(self, group_id: int) -> SimGroup | None:
        return self._groups.get(group_id)

    def groups_of(self, course_id: int) -> list[SimGroup]:
        """A course's groups, by id."""
        return [self._groups[i] for i in self._groups_by_course.get(course_id, [])]

    def _file(self, course_id: int, account_id: int) -> None:
        bisect.insort(self._by_account.setdefault(account_id, []), course_id)

    def _unfile(self, course_id: int, account_id: int) -> None:
        ids = self._by_account[account_id]
        del ids[bisect.bisect_left(ids, course_id)]

    def _changed(self) -> None:
        self.version += 1
        self._listings.clear()
