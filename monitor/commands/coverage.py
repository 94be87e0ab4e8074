"""`check` for a source that watches accounts: can this token see every conference?

A token that may list an account's courses but not manage their content sees, in each course's
conference list, only the conferences its own user takes part in (``canvas-coverage-facts``):
the monitor would run and quietly miss nearly everything. So ``check`` asks Canvas what the token
may do, on each account (``courses``: ``read_course_list``) and on a sample of its courses
(``/permissions``), and fails naming the right that is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline
from monitor.config.settings import SourceConfig
from monitor.core.contexts import ContextInfo
from monitor.core.errors import CanvasError
from monitor.core.purpose import Purpose, reading_for

#: Any one of these lets ``index`` list every conference of a course.
MANAGE: Final = (
    "manage_content",
    "manage_course_content_add",
    "manage_course_content_edit",
    "manage_course_content_delete",
)
READ: Final = "read_course_content"  # an admin not enrolled in the course needs it too
#: Courses asked about per account: rights come from roles, so a few show the pattern.
SAMPLE: Final = 3

Report = Callable[[bool, str, str], None]


async def check_coverage(client: CanvasClient, source: SourceConfig, report: Report) -> None:
    """One line per account: can the token list its courses and manage a sample of them."""
    with reading_for(Purpose.CHECK):
        for account in source.accounts:
            what = f"source {source.name} account {account}"
            deadline = Deadline(source.request_timeout * 3)
            try:
                courses = await client.objects(
                    f"/api/v1/accounts/{account}/courses",
                    {"per_page": str(SAMPLE)},
                    deadline,
                    first_only=True,
                )
            except CanvasError as exc:
                report(False, what, f"cannot list its courses (needs read_course_list): {exc}")
                continue
            sample = [c for raw in courses if (c := ContextInfo.from_course(raw)) is not None]
            if not sample:
                report(True, what, "lists its courses (none yet)")
                continue
            missing = await _missing(client, sample, deadline)
            if missing:
                report(False, what, missing)
            else:
                names = ", ".join(c.label() for c in sample)
                report(True, what, f"lists its courses and manages their content ({names})")


async def _missing(client: CanvasClient, sample: list[ContextInfo], deadline: Deadline) -> str:
    """What the token lacks on the first sampled course that lacks something ('' if nothing)."""
    for course in sample:
        asked = [("permissions[]", p) for p in (*MANAGE, READ)]
        try:
            rights = await client.one(f"/api/v1/courses/{course.id}/permissions", deadline, asked)
        except CanvasError as exc:
            return f"cannot read its rights in course {course.label()}: {exc}"
        if not any(rights.get(p) is True for p in MANAGE):
            return (
                f"cannot manage course content in {course.label()}: each course's conference "
                f"list would show only the token's own conferences; give the token's role "
                f"manage_course_content_* (or manage_content) and {READ} on the account"
            )
        if rights.get(READ) is False:
            return f"cannot read course content in {course.label()} (needs {READ})"
    return ""
