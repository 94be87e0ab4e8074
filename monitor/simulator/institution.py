"""The institution around the conferences: accounts, courses, groups and account admins.

Sits between ``Directory`` (users, tokens, memberships) and ``World`` (conferences). Every
course is also a ``Course`` context of the directory (members, Conferences tab), so the
conference endpoints keep working on it; this layer adds where it sits in the account tree,
its names and state, and who may see it as an admin. A deleted course keeps its record (Canvas
soft-deletes) but is gone from the API: no member sees it, listings skip it by default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from monitor.simulator.accounts import ROOT_ACCOUNT_ID, AccountTree
from monitor.simulator.catalog import Catalog, CourseFilter
from monitor.simulator.directory import Directory
from monitor.simulator.errors import SimInputError
from monitor.simulator.records import (
    ContextType,
    CourseState,
    SimAccount,
    SimCourse,
    SimGroup,
)
from monitor.simulator.rights import AdminGrant, AdminRoster, ConferenceView, CourseAccess

#: The default courses' names and codes, and the group's course.
DEFAULT_COURSES: Final = {
    101: ("Introduction to Biology", "BIO-101"),
    202: ("Linear Algebra", "MATH-202"),
}
DEFAULT_GROUP: Final = (7, "Biology Study Group", 101)
#: Account admins of the default set-up: (token, user id, name, role) on root account 1.
DEFAULT_ADMINS: Final = (
    ("admin-token", 9001, "Sim Admin", "AccountAdmin"),
    ("viewer-token", 9002, "Sim Viewer", "Viewer"),
)


class Institution(Directory):
    """Accounts, the course catalogue and the admin roster on top of the directory."""

    def __init__(self) -> None:
        super().__init__()
        self.accounts = AccountTree()
        self.catalog = Catalog(self.accounts)
        self.admins = AdminRoster(self.accounts)

    def now(self) -> datetime:
        raise NotImplementedError  # the world's clock

    def _reset_directory(self) -> None:
        """Root account 1 holding courses 101 and 202 (group 7 in course 101), user 1 enrolled in
        all three, and two admins of account 1: ``admin-token`` and ``viewer-token``."""
        self.accounts = AccountTree()
        self.catalog = Catalog(self.accounts)
        self.admins = AdminRoster(self.accounts)
        super()._reset_directory()
        for token, user_id, name, role in DEFAULT_ADMINS:
            self.add_user(user_id, name)
            self.add_token(token, user_id)
            self.admins.grant(user_id, ROOT_ACCOUNT_ID, role)

    # accounts

    def add_account(
        self, name: str, parent_account_id: int = ROOT_ACCOUNT_ID, account_id: int | None = None
    ) -> SimAccount:
        new_id = self.accounts.next_id() if account_id is None else account_id
        return self.accounts.add(new_id, name, parent_account_id)

    def grant_admin(
        self,
        user_id: int,
        account_id: int = ROOT_ACCOUNT_ID,
        role: str = "AccountAdmin",
        permissions: frozenset[str] | None = None,
    ) -> AdminGrant:
        self.add_user(user_id)
        return self.admins.grant(user_id, account_id, role, permissions)

    # courses

    def add_context(
        self, context_type: ContextType, context_id: int, *, conferences_tab: bool = True
    ) -> None:
        """As ``Directory.add_context``; a new course lands in root account 1, a new group is
        the root account's."""
        super().add_context(context_type, context_id, conferences_tab=conferences_tab)
        if context_type == "Course" and self.catalog.find(context_id) is None:
            name, code = DEFAULT_COURSES.get(
                context_id, (f"Course {context_id}", f"C-{context_id}")
            )
            self.catalog.add_course(
                SimCourse(context_id, ROOT_ACCOUNT_ID, name, code, created_at=self.now())
            )
        if context_type == "Group" and not self._has_group(context_id):
            course_id = DEFAULT_GROUP[2] if context_id == DEFAULT_GROUP[0] else None
            name = DEFAULT_GROUP[1] if context_id == DEFAULT_GROUP[0] else f"Group {context_id}"
            self.add_group(context_id, name, course_id)

    def add_course(
        self,
        course_id: int,
        *,
        account_id: int = ROOT_ACCOUNT_ID,
        name: str | None = None,
        course_code: str | None = None,
        workflow_state: CourseState | str = CourseState.AVAILABLE,
        enrollment_term_id: int = 1,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        conferences_tab: bool = True,
    ) -> SimCourse:
        """A new course in ``account_id`` (its context too, with no members yet)."""
        if self.catalog.find(course_id) is not None:
            raise SimInputError(f"course {course_id} already exists")
        self.accounts.get(account_id)
        course = SimCourse(
            course_id,
            account_id,
            name or f"Course {course_id}",
            course_code or f"C-{course_id}",
            created_at=self.now(),
            workflow_state=CourseState(workflow_state),
            enrollment_term_id=enrollment_term_id,
            start_at=start_at,
            end_at=end_at,
        )
        self.catalog.add_course(course)
        super().add_context("Course", course_id, conferences_tab=conferences_tab)
        return course

    def add_courses(self, courses: list[SimCourse]) -> None:
        """Many new courses at once, sorted into their accounts in one pass."""
        self.catalog.add_courses_in_order(courses)
        for course in courses:
            super().add_context("Course", course.id)

    def next_course_id(self) -> int:
        """One above every course id so far."""
        return self.catalog.max_id() + 1

    def course(self, course_id: int) -> SimCourse:
        return self.catalog.course(course_id)

    def update_course(self, course_id: int, **changes: Any) -> SimCourse:
        """Rename, re-date, re-state or move (``account_id``) a course."""
        if "workflow_state" in changes:
            changes["workflow_state"] = CourseState(changes["workflow_state"])
        return self.catalog.update(course_id, **changes)

    def delete_course(self, course_id: int) -> SimCourse:
        """Canvas's soft delete: ``workflow_state`` becomes ``deleted``."""
        return self.update_course(course_id, workflow_state=CourseState.DELETED)

    def move_course(self, course_id: int, account_id: int) -> SimCourse:
        return self.update_course(course_id, account_id=account_id)

    def set_nickname(self, user_id: int, course_id: int, nickname: str | None) -> None:
        self.catalog.set_nickname(user_id, course_id, nickname)

    def course_alive(self, course_id: int) -> bool:
        course = self.catalog.find(course_id)
        return course is not None and course.workflow_state is not CourseState.DELETED

    def account_courses(self, account_id: int, wanted: CourseFilter) -> list[int]:
        return self.catalog.listing(account_id, wanted)

    # groups

    def add_group(self, group_id: int, name: str, course_id: int | None = None) -> SimGroup:
        """A group of ``course_id``, or of root account 1 when None (its context too)."""
        account_id = None if course_id is not None else ROOT_ACCOUNT_ID
        group = self.catalog.add_group(SimGroup(group_id, name, course_id, account_id))
        if ("Group", group_id) not in self._contexts:
            super().add_context("Group", group_id)
        return group

    def _has_group(self, group_id: int) -> bool:
        return self.catalog.find_group(group_id) is not None

    # who may see what

    def is_member(self, user_id: int, context_type: ContextType, context_id: int) -> bool:
        """Members of a deleted course (and of its groups) lost their enrollment with it."""
        return super().is_member(user_id, context_type, context_id) and self.context_exists(
            context_type, context_id
        )

    def account_rights(self, user_id: int, account_id: int) -> frozenset[str]:
        return self.admins.in_account(user_id, account_id)

    def course_access(self, user_id: int, course_id: int) -> CourseAccess:
        course = self.course(course_id)
        return CourseAccess(
            enrolled=super().is_member(user_id, "Course", course_id),
            admin=self.admins.in_account(user_id, course.account_id),
        )

    def context_exists(self, context_type: ContextType, context_id: int) -> bool:
        """Known to the API: a course not deleted, a group whose course is not deleted."""
        if (context_type, context_id) not in self._contexts:
            return False
        if context_type == "Course":
            return self.course_alive(context_id)
        group = self.catalog.find_group(context_id)
        return group is None or group.course_id is None or self.course_alive(group.course_id)

    def conference_view(
        self, user_id: int, context_type: ContextType, context_id: int
    ) -> ConferenceView:
        """What ``GET /api/v1/{courses|groups}/:id/conferences`` shows ``user_id``."""
        tab = self.context(context_type, context_id).conferences_tab
        if context_type == "Group":
            # Members, and whoever may manage the content of the group's course (an account
            # admin with manage rights: Canvas grants a course's group to those of its course).
            member = self.is_member(user_id, "Group", context_id)
            group = self.catalog.find_group(context_id)
            course = None if group is None else group.course_id
            access = None if course is None else self.course_access(user_id, course)
            allowed = member or (access is not None and access.sees_all_conferences)
            return ConferenceView(can_read=allowed, tab_visible=tab, sees_all=allowed)
        access = self.course_access(user_id, context_id)
        return ConferenceView(
            can_read=access.can_read,
            tab_visible=tab or access.sees_hidden_tab,
            sees_all=access.sees_all_conferences,
        )
