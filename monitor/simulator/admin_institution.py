"""The ``/_sim/`` endpoints for the institution: accounts, courses, groups, admins, plugins.

Build a whole institution in one call, or shape one piece at a time: add a sub-account, create,
change, move or delete a course, hide its Conferences tab, nickname it for a user, give a user
admin rights on an account (with a token), switch the conference plugin off. Conferences in
any course are made and driven with the existing ``/_sim/conferences`` endpoints.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from monitor.simulator.admin_input import Body, path_integer, read_body
from monitor.simulator.builder import InstitutionPlan
from monitor.simulator.canvas_support import origin
from monitor.simulator.catalog_json import account_json, course_json
from monitor.simulator.errors import SimInputError
from monitor.simulator.runtime import WORLD

routes = web.RouteTableDef()
_PLAN_FIELDS = frozenset(
    {"accounts", "courses", "seed", "first_course_id", "terms", "conferences", "live"}
)
_COURSE_FIELDS = frozenset(
    {
        "account_id",
        "name",
        "course_code",
        "workflow_state",
        "enrollment_term_id",
        "start_at",
        "end_at",
        "conferences_tab",
    }
)


def _course_id(request: web.Request) -> int:
    return path_integer(request, "course_id", "course id")


def _course_truth(request: web.Request, course_id: int) -> dict[str, Any]:
    """The course as Canvas would send it (whatever its state), plus what the API hides."""
    world = request.app[WORLD]
    ctx = world.context("Course", course_id)
    return {
        **course_json(world.course(course_id), origin(request)),
        "conferences_tab": ctx.conferences_tab,
        "members": sorted(ctx.members),
        "group_ids": [g.id for g in world.catalog.groups_of(course_id)],
    }


def _course_changes(body: Body) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key in ("account_id", "enrollment_term_id"):
        if key in body:
            changes[key] = body.integer(key)
    for key in ("name", "course_code", "workflow_state"):
        if key in body:
            changes[key] = body.string(key)
    for key in ("start_at", "end_at"):
        if key in body:
            changes[key] = None if body.data[key] is None else body.time(key)
    if "workflow_state" in changes:
        _check_state(changes["workflow_state"])
    return changes


def _check_state(value: str) -> None:
    allowed = ("unpublished", "available", "completed", "deleted")
    if value not in allowed:
        raise SimInputError(f"workflow_state: must be one of {list(allowed)}, not {value!r}")


@routes.get("/_sim/institution")
async def institution(request: web.Request) -> web.Response:
    """The institution's ground truth: every account, course counts by state, the admins,
    whether a conference plugin is configured."""
    world = request.app[WORLD]
    return web.json_response(
        {
            "accounts": [account_json(a) for a in world.accounts.all()],
            "courses": {"total": len(world.catalog), "by_state": world.catalog.counts()},
            "admins": [
                {
                    "user_id": g.user_id,
                    "account_id": g.account_id,
                    "role": g.role,
                    "permissions": sorted(g.permissions),
                }
                for g in world.admins.grants()
            ],
            "plugins_configured": world.plugins_configured,
        }
    )


@routes.post("/_sim/institution")
async def build(request: web.Request) -> web.Response:
    """Build an institution in one call (JSON: accounts (fan-out per level, e.g. [4, 3]),
    courses, seed, first_course_id, terms, conferences (not started), live (of those, started));
    answers what was made."""
    body = await read_body(request)
    body.only(set(_PLAN_FIELDS))
    plan: dict[str, Any] = {}
    if "accounts" in body:
        plan["accounts"] = tuple(body.integers("accounts"))
    for key in _PLAN_FIELDS - {"accounts"}:
        if key in body:
            plan[key] = body.integer(key)
    summary = request.app[WORLD].build_institution(InstitutionPlan(**plan))
    return web.json_response(summary.as_json(), status=201)


@routes.post("/_sim/accounts")
async def add_account(request: web.Request) -> web.Response:
    """Add a sub-account (JSON: name, parent_account_id (default 1), account_id (optional))."""
    body = await read_body(request)
    body.only({"name", "parent_account_id", "account_id"})
    account = request.app[WORLD].add_account(
        body.string("name"),
        body.integer("parent_account_id") if "parent_account_id" in body else 1,
        body.integer("account_id") if "account_id" in body else None,
    )
    return web.json_response(account_json(account), status=201)


@routes.post("/_sim/admins")
async def add_admin(request: web.Request) -> web.Response:
    """Make a user an admin of an account and its sub-accounts (JSON: user_id, account_id
    (default 1), role (AccountAdmin, Viewer, Lister), or permissions (a list) under any role
    name; token to give the user one)."""
    body = await read_body(request)
    body.only({"user_id", "account_id", "role", "permissions", "token"})
    world = request.app[WORLD]
    user_id = body.integer("user_id")
    permissions = None
    if "permissions" in body:
        raw = body.data["permissions"]
        if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
            raise SimInputError("permissions: must be a list of permission names")
        permissions = frozenset(raw)
    grant = world.grant_admin(
        user_id,
        body.integer("account_id") if "account_id" in body else 1,
        body.string("role") if "role" in body else "AccountAdmin",
        permissions,
    )
    if "token" in body:
        world.add_token(body.string("token"), user_id)
    answer = {"user_id": user_id, "account_id": grant.account_id, "role": grant.role}
    return web.json_response({**answer, "permissions": sorted(grant.permissions)}, status=201)


@routes.post("/_sim/courses")
async def add_course(request: web.Request) -> web.Response:
    """Create a course (JSON: course_id, account_id, name, course_code, workflow_state,
    enrollment_term_id, start_at, end_at, conferences_tab); without course_id, the next free id."""
    body = await read_body(request)
    body.only({"course_id", *_COURSE_FIELDS})
    world = request.app[WORLD]
    course_id = body.integer("course_id") if "course_id" in body else world.next_course_id()
    changes = _course_changes(body)
    tab = body.boolean("conferences_tab", default=True)
    world.add_course(course_id, conferences_tab=tab, **changes)
    return web.json_response(_course_truth(request, course_id), status=201)


@routes.get("/_sim/courses/{course_id}")
async def show_course(request: web.Request) -> web.Response:
    """One course as Canvas would send it, in any state, with its tab, members and groups."""
    return web.json_response(_course_truth(request, _course_id(request)))


@routes.post("/_sim/courses/{course_id}")
async def change_course(request: web.Request) -> web.Response:
    """Change a course (JSON: any of account_id (moves it), name, course_code, workflow_state,
    enrollment_term_id, start_at, end_at, conferences_tab (false hides the Conferences tab))."""
    body = await read_body(request)
    body.only(set(_COURSE_FIELDS))
    world, course_id = request.app[WORLD], _course_id(request)
    world.course(course_id)
    changes = _course_changes(body)
    if changes:
        world.update_course(course_id, **changes)
    if "conferences_tab" in body:
        world.set_conferences_tab("Course", course_id, body.boolean("conferences_tab"))
    return web.json_response(_course_truth(request, course_id))


@routes.delete("/_sim/courses/{course_id}")
async def delete_course(request: web.Request) -> web.Response:
    """Delete a course as Canvas does (workflow_state deleted: gone from the API, 404)."""
    course_id = _course_id(request)
    request.app[WORLD].delete_course(course_id)
    return web.json_response(_course_truth(request, course_id))


@routes.post("/_sim/courses/{course_id}/nicknames")
async def nickname(request: web.Request) -> web.Response:
    """Set a user's nickname for a course (JSON: user_id, nickname; null removes it): their
    token then sees it as name, the real one as original_name."""
    body = await read_body(request)
    body.only({"user_id", "nickname"})
    course_id, user_id = _course_id(request), body.integer("user_id")
    name = body.optional_string("nickname")
    request.app[WORLD].set_nickname(user_id, course_id, name)
    return web.json_response({"course_id": course_id, "user_id": user_id, "nickname": name})


@routes.post("/_sim/groups")
async def add_group(request: web.Request) -> web.Response:
    """Add a group to a course (JSON: group_id, name, course_id; no course_id: an account group)."""
    body = await read_body(request)
    body.only({"group_id", "name", "course_id"})
    world, group_id = request.app[WORLD], body.integer("group_id")
    course_id = body.integer("course_id") if "course_id" in body else None
    name = body.string("name") if "name" in body else f"Group {group_id}"
    group = world.add_group(group_id, name, course_id)
    return web.json_response(
        {"group_id": group.id, "name": group.name, "course_id": group.course_id}, status=201
    )


@routes.post("/_sim/plugins")
async def plugins(request: web.Request) -> web.Response:
    """Switch the conference plugin on or off (JSON: configured): off, the live list is empty
    and a context's index redirects (302) to the context's page."""
    body = await read_body(request)
    body.only({"configured"})
    request.app[WORLD].plugins_configured = body.boolean("configured")
    return web.json_response({"configured": request.app[WORLD].plugins_configured})
