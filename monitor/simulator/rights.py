"""Account admins, their roles, and what a user may do in an account or a course.

Canvas grants an account admin the permissions of their role on the account *and every
account below it*. What the monitor depends on, from ``conferences_controller#index``:
reading a course needs ``read_course_content`` (or an enrollment); seeing *all* of its
conferences needs ``manage_content`` or one of ``manage_course_content_*`` as well, and
without them a user sees only the conferences they take part in (the silent gap). A hidden
Conferences tab still shows to an admin with those manage rights.

Enrolled users are the simulator's long-standing members: they read a context's whole index
(as a teacher does), but a hidden tab answers 404 to them, as it always has here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from monitor.simulator.accounts import AccountTree

MANAGE_RIGHTS: Final = frozenset(
    {
        "manage_content",
        "manage_course_content_add",
        "manage_course_content_edit",
        "manage_course_content_delete",
    }
)
READ_RIGHTS: Final = frozenset({"read", "read_course_list", "read_course_content", "read_roster"})
#: The rights an enrolled member has in their course (a teacher's).
MEMBER_RIGHTS: Final = frozenset({"read", "read_course_content", "read_roster"} | MANAGE_RIGHTS)
#: Built-in roles; any other set of permissions may be granted by name too.
ROLES: Final[dict[str, frozenset[str]]] = {
    "AccountAdmin": READ_RIGHTS | MANAGE_RIGHTS,
    "Viewer": READ_RIGHTS,  # reads every course, manages none: the silent gap
    "Lister": frozenset({"read", "read_course_list"}),  # lists courses, reads none of them
}
KNOWN_PERMISSIONS: Final = READ_RIGHTS | MANAGE_RIGHTS
#: The permissions that mean something on a course (``read_course_list`` is the account's).
COURSE_RIGHTS: Final = frozenset({"read_course_content", "read_roster"}) | MANAGE_RIGHTS


@dataclass(frozen=True, slots=True)
class AdminGrant:
    user_id: int
    account_id: int
    role: str
    permissions: frozenset[str]


class AdminRoster:
    """Who is an admin of which account, with which permissions."""

    def __init__(self, accounts: AccountTree) -> None:
        self.accounts = accounts
        self._grants: dict[int, list[AdminGrant]] = {}

    def grant(
        self,
        user_id: int,
        account_id: int,
        role: str = "AccountAdmin",
        permissions: frozenset[str] | None = None,
    ) -> AdminGrant:
        """Make ``user_id`` an admin of ``account_id`` with a built-in role's permissions, or
        with ``permissions`` under a role name of one's own."""
        self.accounts.get(account_id)
        if permissions is None:
            if role not in ROLES:
                raise ValueError(f"role: must be one of {sorted(ROLES)} unless permissions given")
            permissions = ROLES[role]
        unknown = sorted(permissions - KNOWN_PERMISSIONS)
        if unknown:
            raise ValueError(f"permissions: unknown {unknown} (known: {sorted(KNOWN_PERMISSIONS)})")
        grant = AdminGrant(user_id, account_id, role, frozenset(permissions))
        mine = [g for g in self._grants.get(user_id, []) if g.account_id != account_id]
        self._grants[user_id] = [*mine, grant]
        return grant

    def revoke(self, user_id: int, account_id: int) -> None:
        self._grants[user_id] = [
            g for g in self._grants.get(user_id, []) if g.account_id != account_id
        ]

    def grants(self) -> list[AdminGrant]:
        return [g for user in sorted(self._grants) for g in self._grants[user]]

    def in_account(self, user_id: int, account_id: int) -> frozenset[str]:
        """The user's permissions in ``account_id``: those granted on it or on an ancestor."""
        mine = self._grants.get(user_id)
        if not mine:
            return frozenset()
        above = set(self.accounts.ancestors(account_id))
        found: set[str] = set()
        for grant in mine:
            if grant.account_id in above:
                found |= grant.permissions
        return frozenset(found)


@dataclass(frozen=True, slots=True)
class CourseAccess:
    """What one user may do in one course, from their enrollment and their admin rights."""

    enrolled: bool
    admin: frozenset[str]

    @property
    def rights(self) -> frozenset[str]:
        """The course permissions Canvas's ``rights_status`` would report as granted."""
        found = self.admin & COURSE_RIGHTS
        if self.enrolled:
            found |= MEMBER_RIGHTS
        return found | {"read"} if self.can_read else found

    @property
    def can_read(self) -> bool:
        """Canvas's ``:read`` on the course (the index's ``authorized_action``)."""
        return self.enrolled or "read_course_content" in self.admin

    @property
    def can_manage(self) -> bool:
        return self.enrolled or bool(self.admin & MANAGE_RIGHTS)

    @property
    def sees_all_conferences(self) -> bool:
        """The index lists every conference, not just the user's own."""
        return self.can_read and self.can_manage

    @property
    def sees_hidden_tab(self) -> bool:
        return self.can_read and bool(self.admin & MANAGE_RIGHTS)

    @property
    def can_read_roster(self) -> bool:
        return self.enrolled or "read_roster" in self.admin


@dataclass(frozen=True, slots=True)
class ConferenceView:
    """How a context's conference index answers one user: 401, hidden-tab 404, or a list."""

    can_read: bool
    tab_visible: bool
    sees_all: bool
