"""What every Canvas endpoint of the simulator shares: the token, the origin, JSON pages.

Split from the handlers so the conference, account and course endpoints answer auth and
pagination the same way. Canvas has two numbered-page styles: lists it counts (a course's
conferences, its groups) end their ``Link`` with ``rel="last"``; lists it does not count (an
account's courses and sub-accounts) stop at ``first``, so a client follows ``next`` until it is
gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from aiohttp import web

from monitor.simulator import responses
from monitor.simulator.errors import SimAuthError
from monitor.simulator.paging import link_header, page_number, per_page
from monitor.simulator.runtime import OPTIONS, WORLD

T = TypeVar("T")


def bearer_token(request: web.BaseRequest) -> str | None:
    """``Authorization: Bearer <token>``, or Canvas's ``access_token`` query parameter."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.query.get("access_token") or None


def authenticate(request: web.Request) -> int | web.Response:
    """The token's user id, or the 401 Canvas sends for a bad token."""
    try:
        return request.app[WORLD].authenticate(bearer_token(request))
    except SimAuthError as exc:
        return responses.invalid_token(exc.message)


def path_id(request: web.Request, name: str) -> int | None:
    """A numeric id from the path; ``None`` (Canvas: 404) for anything else."""
    raw = request.match_info[name]
    return int(raw) if raw.isdigit() else None


def origin(request: web.Request, *, upper: bool = False) -> str:
    host = request.host.upper() if upper else request.host
    return f"{request.scheme}://{host}"


def numbered_page(
    request: web.Request, items: Sequence[T], *, counted: bool
) -> tuple[Sequence[T], list[tuple[str, str]], int]:
    """One page of ``items`` by ``page``/``per_page``: the slice, its ``Link`` rels, the size.

    ``counted`` lists get ``rel="last"``; uncounted ones do not (Canvas runs no count for
    them), and a page past the end is empty either way.
    """
    size = per_page(request.query)
    number = page_number(request.query)
    start = (number - 1) * size
    shown = items[start : start + size]
    rels = [("current", str(number))]
    if start + size < len(items):
        rels.append(("next", str(number + 1)))
    if number > 1:
        rels.append(("prev", str(number - 1)))
    rels.append(("first", "1"))
    if counted:
        rels.append(("last", str(max(1, -(-len(items) // size)))))
    return shown, rels, size


def json_page(
    request: web.Request, body: Any, size: int, rels: Sequence[tuple[str, str]]
) -> web.Response:
    """The JSON answer with Canvas's ``Link`` header (and the simulator's Link quirks)."""
    options = request.app[OPTIONS]
    base = f"{origin(request, upper=options.link_host_upper)}{request.path}"
    name = "link" if options.link_header_lowercase else "Link"
    return responses.canvas_json(body, headers={name: link_header(base, request.query, size, rels)})
