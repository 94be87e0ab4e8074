"""Acting out a fault rule on one request: the failures a client meets in the wild.

Faults that happen "before Canvas" (status, html, reset, timeout, slow) replace or delay the
handler; faults in the body (bad_json, wrong_shape, bad_record, truncated) take the real answer
and damage it, so they keep working mid-pagination with real Link headers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, assert_never

from aiohttp import web

from monitor.simulator.faults import FaultKind, FaultRule, Shape
from monitor.simulator.responses import encode, error_for_status, html_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Charges the throttle and stamps its headers; called once the answer's status is known.
Finish = Callable[[web.StreamResponse], web.StreamResponse]


async def act_out(
    rule: FaultRule, request: web.Request, handler: Handler, finish: Finish
) -> web.StreamResponse:
    match rule.kind:
        case FaultKind.STATUS:
            return finish(_custom(rule) or error_for_status(rule.status or 500))
        case FaultKind.HTML:
            return finish(_custom(rule) or html_error(rule.status or 502))
        case FaultKind.TIMEOUT | FaultKind.SLOW:
            await asyncio.sleep(rule.delay)
            return finish(await handler(request))
        case FaultKind.RESET:
            return await _reset(request)
        case FaultKind.BAD_JSON:
            return finish(_rewrite(await handler(request), _cut_in_half))
        case FaultKind.WRONG_SHAPE:
            shape = Shape(rule.options.get("shape", Shape.ARRAY))
            return finish(_rewrite(await handler(request), lambda b: _reshape(b, shape)))
        case FaultKind.BAD_RECORD:
            return finish(_rewrite(await handler(request), _add_bad_records))
        case FaultKind.TRUNCATED:
            return await _truncate(request, finish(await handler(request)))
        case _:
            assert_never(rule.kind)


def _custom(rule: FaultRule) -> web.Response | None:
    """A rule may bring its own body (``body``, optional ``content_type``)."""
    body = rule.options.get("body")
    if body is None:
        return None
    content_type = str(rule.options.get("content_type", "text/plain"))
    return web.Response(status=rule.status or 500, text=str(body), content_type=content_type)


async def _reset(request: web.Request) -> web.StreamResponse:
    """Drop the connection: the client sees a disconnect, never a status line."""
    if request.transport is not None:
        request.transport.abort()
    await asyncio.sleep(0)  # the server cancels this handler as the connection goes
    return web.Response(status=204)


async def _truncate(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Promise the whole body in Content-Length, send half of it, then close."""
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes):
        return response
    stream = web.StreamResponse(status=response.status, headers=response.headers)
    stream.content_length = len(body)
    await stream.prepare(request)
    await stream.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.abort()
    return stream


def _rewrite(response: web.StreamResponse, change: Callable[[bytes], bytes]) -> web.StreamResponse:
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        response.body = change(response.body)
    return response


def _cut_in_half(body: bytes) -> bytes:
    return body[: max(1, len(body) // 2)]


def _records(body: bytes) -> tuple[list[Any], bool] | None:
    """The records of a listing and whether they came wrapped (``{"conferences": [...]}``)
    rather than as the bare array of the account, course and group listings."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, list):
        return data, False
    confs = data.get("conferences") if isinstance(data, dict) else None
    return (confs, True) if isinstance(confs, list) else None


def _reshape(body: bytes, shape: Shape) -> bytes:
    """Conference lists: ``array`` unwraps, ``missing`` renames the key, ``not_list`` keys by
    id. A bare array comes back as an object (``{"data": [...]}``, or keyed by id)."""
    found = _records(body)
    if found is None:
        return body
    items, wrapped = found
    match shape:
        case Shape.ARRAY:
            return encode(items if wrapped else {"data": items})
        case Shape.MISSING:
            return encode({"data": items})
        case Shape.NOT_LIST:
            by_id = {str(c.get("id") if isinstance(c, dict) else i): c for i, c in enumerate(items)}
            return encode({"conferences": by_id} if wrapped else by_id)
        case _:
            assert_never(shape)


def _add_bad_records(body: bytes) -> bytes:
    """Keep the real records; add one without ``id``, one with a string id, one with null."""
    found = _records(body)
    if found is None:
        return body
    items, wrapped = found
    first = items[0] if items and isinstance(items[0], dict) else None
    template: dict[str, Any] = dict(first) if first else {"title": "Broken", "users": [1]}
    no_id = {k: v for k, v in template.items() if k != "id"}
    bad = [{**template, "id": "not-a-number"}, {**template, "id": None}]
    broken = [no_id, *items, *bad]
    return encode({"conferences": broken} if wrapped else broken)
