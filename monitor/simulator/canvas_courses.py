"""One course: ``GET /api/v1/courses/:id``, its ``/permissions`` and its ``/groups``; and one
group, ``GET /api/v1/groups/:id`` (its name, for messages about its conferences).

For names of contexts a listing did not show, for a ``check`` that the token may manage course
content (the silent gap), and for the groups whose conferences live apart from the course's.
A deleted course is a 404 everywhere; reading needs an enrollment or ``read_course_content``,
the groups ``read_roster``. A course's ``name`` is the token user's nickname when they set one.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from monitor.simulator import responses
from monitor.simulator.canvas_support import (
    authenticate,
    json_page,
    numbered_page,
    origin,
    path_id,
)
from monitor.simulator.catalog_json import course_json, group_json
from monitor.simulator.rights import COURSE_RIGHTS, CourseAccess
from monitor.simulator.runtime import WORLD


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/courses/{course_id}", course)
    app.router.add_get("/api/v1/courses/{course_id}/permissions", permissions)
    app.router.add_get("/api/v1/courses/{course_id}/groups", groups)
    app.router.add_get("/api/v1/groups/{group_id}", group)


def _course(
    request: web.Request, allowed: Callable[[CourseAccess], bool]
) -> tuple[int, int, CourseAccess] | web.Response:
    """(user, course id, access) when the course exists and ``allowed`` says yes; else
    Canvas's 401 (bad token, or not allowed) or 404 (no such course, or deleted)."""
    user = authenticate(request)
    if isinstance(user, web.Response):
        return user
    world = request.app[WORLD]
    course_id = path_id(request, "course_id")
    if course_id is None or not world.course_alive(course_id):
        return responses.not_found()
    access = world.course_access(user, course_id)
    if not allowed(access):
        return responses.unauthorized()
    return user, course_id, access


async def course(request: web.Request) -> web.Response:
    found = _course(request, lambda access: access.can_read)
    if isinstance(found, web.Response):
        return found
    user, course_id, _ = found
    world = request.app[WORLD]
    nickname = world.catalog.nickname(user, course_id)
    return responses.canvas_json(course_json(world.course(course_id), origin(request), nickname))


async def permissions(request: web.Request) -> web.Response:
    """``{"manage_content": true, ...}`` for the names asked (all known ones when none are)."""
    found = _course(request, lambda access: access.can_read)
    if isinstance(found, web.Response):
        return found
    asked = request.query.getall("permissions[]", []) or ["read", *sorted(COURSE_RIGHTS)]
    granted = found[2].rights
    return responses.canvas_json({name: name in granted for name in asked})


async def groups(request: web.Request) -> web.Response:
    found = _course(request, lambda access: access.can_read_roster)
    if isinstance(found, web.Response):
        return found
    course_id = found[1]
    world = request.app[WORLD]
    shown, rels, size = numbered_page(request, world.catalog.groups_of(course_id), counted=True)
    body = [group_json(g, len(world.context("Group", g.id).members)) for g in shown]
    return json_page(request, body, size, rels)


async def group(request: web.Request) -> web.Response:
    """A group, to its members and to those who may read its course (a course's deleted: 404)."""
    user = authenticate(request)
    if isinstance(user, web.Response):
        return user
    world = request.app[WORLD]
    group_id = path_id(request, "group_id")
    found = None if group_id is None else world.catalog.find_group(group_id)
    if found is None or (found.course_id is not None and not world.course_alive(found.course_id)):
        return responses.not_found()
    members = world.context("Group", found.id).members
    readable = found.course_id is not None and world.course_access(user, found.course_id).can_read
    if user not in members and not readable:
        return responses.unauthorized()
    return responses.canvas_json(group_json(found, len(members)))
