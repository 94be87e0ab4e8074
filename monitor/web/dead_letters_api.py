"""Dead letters over HTTP, through the same code as ``conference-monitor dlq``
(``delivery.dead_letters``):

- ``GET /api/v1/sinks/{sink}/dead-letters``: ``{"sink", "dead_letters": [{"id", "type",
  "reason", "attempts", "dead_at", "event"}]}``, oldest first;
- ``POST /api/v1/sinks/{sink}/dead-letters/replay``, body ``{"ids": [...]}`` or none (all):
  ``{"replayed": n}`` (and the sink is enabled again, as ``dlq replay`` does);
- ``POST /api/v1/sinks/{sink}/dead-letters/purge``, body ``{"ids": [...]}`` or none (all):
  ``{"purged": n}``.

A sink not in the configuration is a 404. The POSTs change what gets delivered, so beyond
``api_token`` (when set) they must come from this origin (``same_origin_posts``): without a
token, a page on another site could otherwise make a visitor's browser replay or purge.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from monitor.core.errors import StoreError
from monitor.delivery import dead_letters
from monitor.store.values import DeadLetter
from monitor.web.events_api import BadRequestError
from monitor.web.views import SERVICE

BASE: Final = "/api/v1/sinks/{sink}/dead-letters"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: ``Sec-Fetch-Site`` values of a request this origin's own page (or a person) made.
OWN_SITES: Final = frozenset({"same-origin", "none"})


def add_dead_letter_routes(app: web.Application) -> None:
    app.router.add_get(BASE, list_dead)
    app.router.add_post(f"{BASE}/replay", replay)
    app.router.add_post(f"{BASE}/purge", purge)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def same_origin_posts(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse (403) a request that changes something and says it comes from another site:
    ``Sec-Fetch-Site`` (every current browser sends it) other than same-origin, or an
    ``Origin`` whose host is not this one. Tools (curl) send neither and pass."""
    if request.method in SAFE_METHODS:
        return await handler(request)
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is not None and site not in OWN_SITES:
        return _error(403, f"cross-site request refused (Sec-Fetch-Site: {site})")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc != request.host):
        return _error(403, "cross-origin request refused (Origin is not this server)")
    return await handler(request)


LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1"})


@web.middleware
async def local_posts(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Without ``api_token``: what ``same_origin_posts`` refuses, and also a browser's request
    that changes something unless it was addressed to this machine by a loopback name or the
    address the server listens on. Same-origin alone is not enough there: a page whose name
    an attacker re-points at 127.0.0.1 (DNS rebinding) is same-origin with itself. Tools (curl)
    send no ``Origin`` nor ``Sec-Fetch-Site`` and pass; set ``api_token`` to use the console's
    buttons from elsewhere."""
    browser = "Origin" in request.headers or "Sec-Fetch-Site" in request.headers
    if request.method not in SAFE_METHODS and browser:
        host = (urlsplit(f"//{request.host}").hostname or "").lower()
        bound = request.transport.get_extra_info("sockname") if request.transport else None
        own = {str(bound[0]).lower()} if bound else set()
        if host not in LOOPBACK | own:
            return _error(403, "refused: set api_token to change things from another host")
    return await same_origin_posts(request, handler)


def _sink(request: web.Request) -> str | None:
    name = request.match_info["sink"]
    return name if name in request.app[SERVICE].sink_types() else None


def _unknown(request: web.Request) -> web.Response:
    return _error(404, f"no sink named {request.match_info['sink']!r}")


def letter(dead: DeadLetter) -> dict[str, Any]:
    return {
        "id": dead.entry.event_id,
        "type": dead.entry.type,
        "reason": dead.reason,
        "attempts": dead.attempts,
        "dead_at": dead_letters.iso(dead.dead_at),
        "event": dead_letters.event_of(dead),
    }


async def list_dead(request: web.Request) -> web.Response:
    if (sink := _sink(request)) is None:
        return _unknown(request)
    try:
        found = await request.app[SERVICE].store.dead_letters(sink)
    except StoreError as exc:
        return _error(503, str(exc))
    return web.json_response({"sink": sink, "dead_letters": [letter(d) for d in found]})


async def _ids(request: web.Request) -> list[str] | None:
    """The ``ids`` the body names (None: every dead letter)."""
    text = await request.text()
    if not text.strip():
        return None
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise BadRequestError("body: not JSON") from exc
    if not isinstance(body, dict):
        raise BadRequestError('body: a JSON object, {"ids": [...]}')
    ids = body.get("ids")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise BadRequestError("ids: a list of event ids (strings)")
    return ids


async def replay(request: web.Request) -> web.Response:
    if (sink := _sink(request)) is None:
        return _unknown(request)
    try:
        ids = await _ids(request)
    except BadRequestError as exc:
        return _error(400, str(exc))
    try:
        count = await dead_letters.replay(request.app[SERVICE].store, sink, ids)
    except StoreError as exc:
        return _error(503, str(exc))
    return web.json_response({"replayed": count})


async def purge(request: web.Request) -> web.Response:
    if (sink := _sink(request)) is None:
        return _unknown(request)
    try:
        ids = await _ids(request)
    except BadRequestError as exc:
        return _error(400, str(exc))
    try:
        count = await dead_letters.purge(request.app[SERVICE].store, sink, ids)
    except StoreError as exc:
        return _error(503, str(exc))
    return web.json_response({"purged": count})
