"""The Canvas endpoints the monitor uses, answered the way Canvas's controllers answer them.

``GET /api/v1/users/self``, ``GET /api/v1/conferences`` (``for_user``: ``state=live`` filter,
bookmark pages) and ``GET /api/v1/{courses,groups}/:id/conferences`` (``index``: no filter,
numbered pages, 404 for an unknown context or a disabled tab, 401 for a non-member).
Throttling, latency and faults are layered on by the middleware, not here.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from monitor.simulator import responses
from monitor.simulator.errors import SimAuthError, SimNotFoundError
from monitor.simulator.paging import (
    Page,
    bookmark_page,
    decode_bookmark,
    link_header,
    numbered_page,
    page_number,
    per_page,
)
from monitor.simulator.records import ContextType, SimConference
from monitor.simulator.runtime import BOOKMARKS, OPTIONS, WORLD


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/users/self", users_self)
    app.router.add_get("/api/v1/conferences", for_user)
    app.router.add_get("/api/v1/courses/{context_id}/conferences", course_conferences)
    app.router.add_get("/api/v1/groups/{context_id}/conferences", group_conferences)


def bearer_token(request: web.BaseRequest) -> str | None:
    """``Authorization: Bearer <token>``, or Canvas's ``access_token`` query parameter."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.query.get("access_token") or None


def _authenticate(request: web.Request) -> int | web.Response:
    try:
        return request.app[WORLD].authenticate(bearer_token(request))
    except SimAuthError as exc:
        return responses.invalid_token(exc.message)


async def users_self(request: web.Request) -> web.Response:
    user = _authenticate(request)
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
            "avatar_url": f"{_origin(request)}/images/messages/avatar-50.png",
            "locale": None,
            "effective_locale": "en",
            "permissions": {"can_update_name": True, "can_update_avatar": False},
        }
    )


async def for_user(request: web.Request) -> web.Response:
    user = _authenticate(request)
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
    return _page_response(request, page, size, rels)


async def course_conferences(request: web.Request) -> web.Response:
    return _index(request, "Course")


async def group_conferences(request: web.Request) -> web.Response:
    return _index(request, "Group")


def _index(request: web.Request, context_type: ContextType) -> web.Response:
    user = _authenticate(request)
    if isinstance(user, web.Response):
        return user
    world = request.app[WORLD]
    raw_id = request.match_info["context_id"]
    if not raw_id.isdigit():
        return responses.not_found()
    try:
        ctx = world.context(context_type, int(raw_id))
    except SimNotFoundError:
        return responses.not_found()
    if not world.is_member(user, context_type, ctx.context_id):
        return responses.unauthorized()
    if not ctx.conferences_tab:
        return responses.tab_disabled(context_type)
    size = per_page(request.query)
    number = page_number(request.query)
    page, last = numbered_page(world.index(context_type, ctx.context_id), number, size)
    rels = [("current", str(number))]
    if page.next_page is not None:
        rels.append(("next", page.next_page))
    if number > 1:
        rels.append(("prev", str(number - 1)))
    rels += [("first", "1"), ("last", str(last))]
    return _page_response(request, page, size, rels)


def _page_response(
    request: web.Request, page: Page, size: int, rels: Sequence[tuple[str, str]]
) -> web.Response:
    options = request.app[OPTIONS]
    origin = _origin(request, upper=options.link_host_upper)
    link = link_header(f"{origin}{request.path}", request.query, size, rels)
    name = "link" if options.link_header_lowercase else "Link"
    body = {"conferences": _json(request, page.items)}
    return responses.canvas_json(body, headers={name: link})


def _json(request: web.Request, confs: Sequence[SimConference]) -> list[dict[str, object]]:
    world = request.app[WORLD]
    origin = _origin(request)
    return [world.api_json(c, base_url=origin) for c in confs]


def _origin(request: web.Request, *, upper: bool = False) -> str:
    host = request.host.upper() if upper else request.host
    return f"{request.scheme}://{host}"
