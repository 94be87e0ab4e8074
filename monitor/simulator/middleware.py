"""The layers around every Canvas API request: request log, throttle, latency, faults, 404s.

Order matters and follows Canvas's stack: the throttle runs before authentication (so a bad
token still costs), the reservation is held while the request sleeps or fails, and every answer,
faulty or not, carries ``X-Request-Cost`` and ``X-Rate-Limit-Remaining``. The ``/_sim/`` admin
API passes straight through.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from monitor.simulator import responses
from monitor.simulator.canvas_support import bearer_token
from monitor.simulator.paging import page_number
from monitor.simulator.runtime import (
    ADMIN_PREFIX,
    BOOKMARKS,
    FAULTS,
    OPTIONS,
    REQUESTS,
    THROTTLE,
    RequestRecord,
)
from monitor.simulator.sabotage import Handler, act_out


@web.middleware
async def canvas_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(ADMIN_PREFIX):
        return await handler(request)
    status = 0
    try:
        response = await _serve(request, handler)
        status = response.status
        return response
    finally:
        request.app[REQUESTS].append(RequestRecord(request.method, request.path_qs, status))


async def _serve(request: web.Request, handler: Handler) -> web.StreamResponse:
    throttle = request.app[THROTTLE]
    token = bearer_token(request)
    key = f"token:{token}" if token else f"address:{request.remote}"
    if not throttle.admit(key):
        headers = {
            "X-Request-Cost": "0.0",
            "X-Rate-Limit-Remaining": _number(throttle.remaining(key)),
        }
        if throttle.retry_after:
            headers["Retry-After"] = str(throttle.seconds_until_admitted(key))
        return responses.throttled(throttle.mode, headers)
    settled = False

    def finish(response: web.StreamResponse) -> web.StreamResponse:
        nonlocal settled
        cost = throttle.settle(key)
        settled = True
        response.headers["X-Request-Cost"] = _number(cost)
        response.headers["X-Rate-Limit-Remaining"] = _number(throttle.remaining(key))
        return response

    try:
        latency = request.app[OPTIONS].latency
        if latency > 0:
            await asyncio.sleep(latency)
        rule = request.app[FAULTS].take(request.path, _sequence_page(request))
        if rule is None:
            return finish(await _canvas_404s(request, handler))
        return await act_out(rule, request, lambda r: _canvas_404s(r, handler), finish)
    finally:
        if not settled:
            throttle.settle(key)


async def _canvas_404s(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown paths and methods get Canvas's JSON 404, not aiohttp's text one."""
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return responses.not_found()


def _sequence_page(request: web.Request) -> int | None:
    """Which page of its pagination sequence this request asks for (1 = the first)."""
    if request.path == "/api/v1/conferences":
        return request.app[BOOKMARKS].number(request.path, request.query.get("page"))
    return page_number(request.query)


def _number(value: float) -> str:
    return repr(round(value, 3))
