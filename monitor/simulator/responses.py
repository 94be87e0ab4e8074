"""Canvas's answers, byte for byte where it matters: JSON encoding and its error bodies.

Canvas (Rails ``to_json``) writes compact JSON with ``application/json; charset=utf-8``. Its
errors have three different shapes (token, permission, not found) plus the tab-disabled
``{"message": ...}``; load balancers in front of it answer 502/503/504 in HTML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web

from monitor.simulator.throttle import FORBIDDEN_BODY, TOO_MANY_BODY, ThrottleMode

JSON_TYPE: Final = "application/json"
WWW_AUTHENTICATE: Final = 'Bearer realm="canvas-lms"'
NOT_AUTHORIZED: Final = "user not authorized to perform that action"
NOT_FOUND: Final = "The specified resource does not exist."


def encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def canvas_json(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=encode(data),
        status=status,
        headers=headers,
        content_type=JSON_TYPE,
        charset="utf-8",
    )


def invalid_token(message: str = "Invalid access token.") -> web.Response:
    """A missing, unknown, expired or revoked token."""
    return canvas_json(
        {"errors": [{"message": message}]},
        status=401,
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    )


def unauthorized() -> web.Response:
    """Authenticated, but not allowed (for example not a member): no ``WWW-Authenticate``."""
    return canvas_json(
        {"status": "unauthorized", "errors": [{"message": NOT_AUTHORIZED}]}, status=401
    )


def not_found() -> web.Response:
    return canvas_json({"errors": [{"message": NOT_FOUND}]}, status=404)


def tab_disabled(context_type: str) -> web.Response:
    noun = "course" if context_type == "Course" else "group"
    return canvas_json({"message": f"That page has been disabled for this {noun}"}, status=404)


def redirect(url: str) -> web.Response:
    """Rails's ``redirect_to``: a 302 with a tiny HTML body pointing at ``url``."""
    body = f'<html><body>You are being <a href="{url}">redirected</a>.</body></html>'
    return web.Response(status=302, text=body, content_type="text/html", headers={"Location": url})


def throttled(mode: ThrottleMode, headers: Mapping[str, str]) -> web.Response:
    if mode is ThrottleMode.TOO_MANY_REQUESTS:
        return web.Response(status=429, text=TOO_MANY_BODY, headers=headers)
    return web.Response(status=403, text=FORBIDDEN_BODY, headers=headers)


def error_for_status(status: int) -> web.Response:
    """What Canvas itself would send with this status."""
    if status == 401:
        return invalid_token()
    if status == 403:
        return canvas_json(
            {"status": "unauthorized", "errors": [{"message": NOT_AUTHORIZED}]}, status=403
        )
    if status == 404:
        return not_found()
    if status >= 500:
        body = {
            "errors": [{"message": "An error occurred.", "error_code": "internal_server_error"}]
        }
        return canvas_json(body, status=status)
    return canvas_json({"errors": [{"message": _phrase(status)}]}, status=status)


def html_error(status: int) -> web.Response:
    """A load balancer's error page (nginx style)."""
    title = f"{status} {_phrase(status)}"
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return web.Response(status=status, text=page, content_type="text/html")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
