"""``GET /_sim/``: the admin API's own list of endpoints, so nobody has to read the source.

The list is read from the router and each handler's docstring, so it cannot drift from what the
simulator really serves; ``docs/simulator.md`` explains them with examples.
"""

from __future__ import annotations

import inspect

from aiohttp import web

routes = web.RouteTableDef()
DOC = "docs/simulator.md"
_METHODS = ("GET", "POST", "DELETE")


def endpoints(app: web.Application) -> list[dict[str, str]]:
    """Method, path and what it does, for every ``/_sim/`` route (HEAD is implied by GET)."""
    found = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if not path.startswith("/_sim/") or route.method not in _METHODS:
            continue
        what = " ".join((inspect.getdoc(route.handler) or "").split()).replace("``", "")
        found.append({"method": route.method, "path": path, "what": what})
    return sorted(found, key=lambda e: (e["path"], _METHODS.index(e["method"])))


@routes.get("/_sim/")
async def index(request: web.Request) -> web.Response:
    """This list of the admin endpoints (no auth; JSON in and out)."""
    return web.json_response({"docs": DOC, "endpoints": endpoints(request.app)})
