"""Courses, accounts and groups as Canvas's API emits them (``api/v1/course_json.rb`` & co).

The fields a client relies on are exact: a course's ``name`` is the requesting user's nickname
when they set one, with the real name in ``original_name`` (present only then); ``workflow_state``
says ``unpublished`` for created/claimed courses; ``sis_course_id`` is null (no SIS rights);
there is no ``updated_at``. The rest are the usual defaults, so a client sees realistic objects.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from monitor.simulator.accounts import ROOT_ACCOUNT_ID
from monitor.simulator.records import SimAccount, SimCourse, SimGroup
from monitor.simulator.serialize import iso

_UUIDS: Final = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # a fixed namespace


def _uuid(kind: str, record_id: int) -> str:
    """A stable 40-character opaque id, as Canvas's ``uuid`` columns hold."""
    return uuid.uuid5(_UUIDS, f"{kind}-{record_id}").hex[:24] + f"{record_id:016d}"


def course_json(course: SimCourse, base_url: str, nickname: str | None = None) -> dict[str, Any]:
    calendar = f"course_{_uuid('ics', course.id)}"
    data: dict[str, Any] = {
        "id": course.id,
        "name": nickname or course.name,
        "account_id": course.account_id,
        "uuid": _uuid("course", course.id),
        "start_at": iso(course.start_at),
        "grading_standard_id": None,
        "is_public": False,
        "created_at": iso(course.created_at),
        "course_code": course.course_code,
        "default_view": "modules",
        "root_account_id": ROOT_ACCOUNT_ID,
        "enrollment_term_id": course.enrollment_term_id,
        "license": "private",
        "grade_passback_setting": None,
        "end_at": iso(course.end_at),
        "public_syllabus": False,
        "public_syllabus_to_auth": False,
        "storage_quota_mb": 500,
        "is_public_to_auth_users": False,
        "homeroom_course": False,
        "course_color": None,
        "friendly_name": None,
        "apply_assignment_group_weights": False,
        "calendar": {"ics": f"{base_url.rstrip('/')}/feeds/calendars/{calendar}.ics"},
        "time_zone": "America/Denver",
        "blueprint": False,
        "template": False,
        "sis_course_id": None,
        "integration_id": None,
        "hide_final_grades": False,
        "workflow_state": str(course.workflow_state),
        "restrict_enrollments_to_course_dates": False,
    }
    if nickname:
        data["original_name"] = course.name
    return data


def account_json(account: SimAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "workflow_state": "active",
        "parent_account_id": account.parent_account_id,
        "root_account_id": account.root_account_id,
        "uuid": _uuid("account", account.id),
        "default_storage_quota_mb": 500,
        "default_user_storage_quota_mb": 50,
        "default_group_storage_quota_mb": 50,
        "default_time_zone": "America/Denver",
    }


def group_json(group: SimGroup, members_count: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": group.id,
        "name": group.name,
        "description": None,
        "is_public": False,
        "followed_by_user": False,
        "join_level": "invitation_only",
        "members_count": members_count,
        "avatar_url": None,
        "context_type": "Course" if group.course_id is not None else "Account",
        "group_category_id": None,
        "role": None,
        "storage_quota_mb": 50,
        "sis_group_id": None,
        "sis_import_id": None,
        "concluded": False,
    }
    if group.course_id is not None:
        data["course_id"] = group.course_id
    else:
        data["account_id"] = group.account_id
    return data
