"""The Canvas endpoints the monitor uses, answered the way Canvas's controllers answer them.

``GET /api/v1/users/self``, ``GET /api/v1/conferences`` (``for_user``: ``state=live`` filter,
bookmark pages) and ``GET /api/v1/{courses,groups}/:id/conferences`` (``index``: no filter,
numbered pages). The index follows ``conferences_controller#index`` step by step: 404 for an
unknown or deleted context, 302 to the context's page without a conference plugin, 401 without
``:read``, 404 for a hidden tab (unless the user may manage the course), then every conference
for those who may manage it and only their own for the rest (see ``rights``).
Throttling, latency and faults are layered on by the middleware, not here.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from monitor.simulator import responses
from monitor.simulator.canvas_support import (
    authenticate,
    bearer_token,
    json_page,
    numbered_page,
    origin,
    path_id,
)
from monitor.simulator.paging import bookmark_page, decode_bookmark, per_page
from monitor.simulator.records import ContextType, SimConference
from monitor.simulator.runtime import BOOKMARKS, WORLD

__all__ = ["add_routes", "bearer_token"]


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/users/self", users_self)
    app.router.add_get("/api/v1/conferences", for_user)
    app.router.add_get("/api/v1/courses/{context_id}/conferences", course_conferences)
    app.router.add_get("/api/v1/groups/{context_id}/conferences", group_conferences)


async def users_self(request: web.Request) -> web.Response:
    user = authenticate(request)
    if isinstance(user, web.Response):
        return user
    name = request.app[WORLD].user_name(user)
    first, _, last = name.rpartition(" ")
    return responses.canvas_json(
        {
            "id": user,
            "name": name,
            "sortable_name": f"{last}, {first}" if first else name,
            "short_name": name,
            "avatar_url": f"{origin(request)}/images/messages/avatar-50.png",
            "locale": None,
            "effective_locale": "en",
            "permissions": {"can_update_name": True, "can_update_avatar": False},
        }
    )


async def for_user(request: web.Request) -> web.Response:
    user = authenticate(request)
    if isinstance(user, web.Response):
        return user
    world = request.app[WORLD]
    confs = world.for_user(user, live=request.query.get("state") == "live")
    size = per_page(request.query)
    asked = request.query.get("page")
    page = bookmark_page(confs, asked, size)
    current = asked if asked is not None and decode_bookmark(asked) else "first"
    rels = [("current", current)]
    if page.next_page is not None:
        rels.append(("next", page.next_page))
        bookmarks = request.app[BOOKMARKS]
        number = bookmarks.number(request.path, asked)
        if number is not None:
            bookmarks.remember(request.path, page.next_page, number + 1)
    rels.append(("first", "first"))
    if page.next_page is None:
        rels.append(("last", current))
    return json_page(request, {"conferences": _json(request, page.items)}, size, rels)


async def course_conferences(request: web.Request) -> web.Response:
    return _index(request, "Course")


async def group_conferences(request: web.Request) -> web.Response:
    return _index(request, "Group")


def _index(request: web.Request, context_type: ContextType) -> web.Response:
    user = authenticate(request)
    if isinstance(user, web.Response):
        return user
    world = request.app[WORLD]
    context_id = path_id(request, "context_id")
    if context_id is None or not world.context_exists(context_type, context_id):
        return responses.not_found()
    if not world.plugins_configured:
        segment = "courses" if context_type == "Course" else "groups"
        return responses.redirect(f"{origin(request)}/{segment}/{context_id}")
    view = world.conference_view(user, context_type, context_id)
    if not view.can_read:
        return responses.unauthorized()
    if not view.tab_visible:
        return responses.tab_disabled(context_type)
    confs = world.index(context_type, context_id)
    if not view.sees_all:
        confs = [c for c in confs if user in c.users]
    shown, rels, size = numbered_page(request, confs, counted=True)
    return json_page(request, {"conferences": _json(request, shown)}, size, rels)


def _json(request: web.Request, confs: Sequence[SimConference]) -> list[dict[str, object]]:
    world = request.app[WORLD]
    base = origin(request)
    return [world.api_json(c, base_url=base) for c in confs]
