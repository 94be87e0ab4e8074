"""``GET /api/v1/accounts/:id/courses`` and ``/sub_accounts``: discovering an institution.

As ``accounts_controller#courses_api`` and ``#sub_accounts`` answer: the courses of the account
*and of its sub-accounts*, sorted by id, without deleted ones unless ``state[]`` asks for them,
narrowed by ``state[]``, ``published`` and ``enrollment_term_id`` (``include[]`` and other
parameters are ignored); numbered pages with no ``rel="last"``, because Canvas counts nothing
here. Listing courses needs ``read_course_list``, the account tree needs ``read``, on the
account or an account above it.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from multidict import MultiMapping

from monitor.simulator import responses
from monitor.simulator.canvas_support import (
    authenticate,
    json_page,
    numbered_page,
    origin,
    path_id,
)
from monitor.simulator.catalog import LISTED_BY_DEFAULT, CourseFilter
from monitor.simulator.catalog_json import account_json, course_json
from monitor.simulator.paging import ruby_to_i
from monitor.simulator.records import CourseState
from monitor.simulator.runtime import WORLD

#: What each ``state[]`` value selects (Canvas stores unpublished as created or claimed).
STATE_NAMES: Final = {
    "created": {CourseState.UNPUBLISHED},
    "claimed": {CourseState.UNPUBLISHED},
    "unpublished": {CourseState.UNPUBLISHED},
    "available": {CourseState.AVAILABLE},
    "completed": {CourseState.COMPLETED},
    "deleted": {CourseState.DELETED},
    "all": set(CourseState),
}
_PUBLISHED: Final = frozenset({CourseState.AVAILABLE, CourseState.COMPLETED})
_TRUE: Final = frozenset({"1", "true", "t", "yes", "y", "on"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/accounts/{account_id}/courses", account_courses)
    app.router.add_get("/api/v1/accounts/{account_id}/sub_accounts", sub_accounts)


def course_filter(query: MultiMapping[str]) -> CourseFilter:
    """``state[]``, ``published`` and ``enrollment_term_id`` as Canvas reads them."""
    asked = query.getall("state[]", [])
    states = set(LISTED_BY_DEFAULT)
    if asked:
        states = set().union(*(STATE_NAMES.get(name, set()) for name in asked))
    published = query.get("published")
    if published:
        wanted = _PUBLISHED if published.lower() in _TRUE else {CourseState.UNPUBLISHED}
        states &= wanted
    term = query.get("enrollment_term_id")
    return CourseFilter(frozenset(states), ruby_to_i(term) if term else None)


def _account(request: web.Request, right: str) -> tuple[int, int] | web.Response:
    """(user, account id) when the token may use ``right`` there; else Canvas's answer."""
    user = authenticate(request)
    if isinstance(user, web.Response):
        return user
    world = request.app[WORLD]
    account_id = path_id(request, "account_id")
    if account_id is None or account_id not in world.accounts:
        return responses.not_found()
    if right not in world.account_rights(user, account_id):
        return responses.unauthorized()
    return user, account_id


async def account_courses(request: web.Request) -> web.Response:
    found = _account(request, "read_course_list")
    if isinstance(found, web.Response):
        return found
    user, account_id = found
    world = request.app[WORLD]
    ids = world.account_courses(account_id, course_filter(request.query))
    shown, rels, size = numbered_page(request, ids, counted=False)
    base = origin(request)
    body = [course_json(world.course(i), base, world.catalog.nickname(user, i)) for i in shown]
    return json_page(request, body, size, rels)


async def sub_accounts(request: web.Request) -> web.Response:
    found = _account(request, "read")
    if isinstance(found, web.Response):
        return found
    _, account_id = found
    world = request.app[WORLD]
    recursive = request.query.get("recursive", "").lower() in _TRUE
    tree = world.accounts
    below = tree.descendants(account_id) if recursive else tree.children(account_id)
    accounts = sorted(below, key=lambda a: a.id)
    shown, rels, size = numbered_page(request, accounts, counted=False)
    return json_page(request, [account_json(a) for a in shown], size, rels)
