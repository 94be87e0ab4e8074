"""The operations console: a static page at ``/`` and its assets under ``/console/``.

The page holds no data. It is plain HTML, CSS and JavaScript shipped in the package
(``monitor/web/static``: no CDN, no build step), and it reads everything it shows from the JSON
API and the event stream, with the token the person typed. That is why ``/`` and the assets stay
open when ``api_token`` is set (``OPEN``): the page must load before it can ask for the token,
and what it loads is the same for everyone. The data behind it stays protected.

The assets are read once, at start: a handful of small files, served from memory with an ETag
(a wall screen left open for weeks revalidates instead of re-downloading). Every console response
carries a strict Content-Security-Policy: scripts and styles only from this origin, no inline
code, connections only to this origin, so a conference title that holds markup can never run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Final

from aiohttp import web

#: Where the assets are served; the page refers to them by these paths.
PREFIX: Final = "/console/"
#: What a browser may do on a console page (see the module docstring).
POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_TYPES: Final = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of ``monitor/web/static`` whose kind the console serves, by file name."""
    found = {}
    for entry in resources.files("monitor.web").joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            found[entry.name] = Asset(body, _TYPES[suffix], etag)
    return found


ASSETS: Final = web.AppKey("console_assets", dict[str, Asset])


def add_console(app: web.Application) -> frozenset[str]:
    """Route ``/`` and the assets; return the paths to leave open under ``api_token``."""
    app[ASSETS] = load_assets()
    app.router.add_get("/", index)
    app.router.add_get(PREFIX + "{name}", asset)
    return frozenset({"/", *(PREFIX + name for name in app[ASSETS])})


def _answer(request: web.Request, found: Asset) -> web.Response:
    headers = {
        "ETag": found.etag,
        "Cache-Control": "no-cache",  # revalidate every time: an upgrade shows at once
        "Content-Security-Policy": POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if request.headers.get("If-None-Match") == found.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=found.body, content_type=found.content_type, headers=headers)


async def index(request: web.Request) -> web.Response:
    return _answer(request, request.app[ASSETS]["index.html"])


async def asset(request: web.Request) -> web.Response:
    found = request.app[ASSETS].get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound
    return _answer(request, found)
