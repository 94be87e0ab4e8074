"""The ``/_sim/`` admin endpoints that steer the simulator itself rather than the world.

Throttle settings, fault rules, latency and Link quirks, the request log, and a full reset.
Errors are mapped by ``admin_api.admin_errors`` like every other ``/_sim/`` endpoint.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from monitor.simulator.admin_input import Body, read_body
from monitor.simulator.errors import SimInputError
from monitor.simulator.runtime import FAULTS, OPTIONS, REQUESTS, THROTTLE, WORLD

routes = web.RouteTableDef()


@routes.get("/_sim/throttle")
async def throttle(request: web.Request) -> web.Response:
    """The leaky-bucket throttle's settings (Canvas's defaults until changed)."""
    return web.json_response(request.app[THROTTLE].settings())


@routes.post("/_sim/throttle")
async def configure_throttle(request: web.Request) -> web.Response:
    """Change throttle settings, all or none (JSON: enabled, mode, retry_after, high_water_mark,
    maximum, outflow, up_front_cost, request_cost, reset_buckets); answers them all."""
    request.app[THROTTLE].configure((await read_body(request)).data)
    return web.json_response(request.app[THROTTLE].settings())


@routes.get("/_sim/faults")
async def faults(request: web.Request) -> web.Response:
    """The fault rules in force, oldest first."""
    return web.json_response({"faults": [r.as_json() for r in request.app[FAULTS].rules]})


@routes.post("/_sim/faults")
async def add_fault(request: web.Request) -> web.Response:
    """Add a fault rule (JSON: kind, path, page, times, status, delay, shape, body,
    content_type); answers its id."""
    body = await read_body(request)
    rule_id = request.app[FAULTS].add(**_fault_kwargs(body))
    return web.json_response({"id": rule_id}, status=201)


def _fault_kwargs(body: Body) -> dict[str, Any]:
    if "kind" not in body:
        raise SimInputError("kind: required")
    kwargs = dict(body.data)
    if "delay" in kwargs and kwargs["delay"] is not None:
        kwargs["delay"] = body.number("delay")
    return kwargs


@routes.delete("/_sim/faults")
async def clear_faults(request: web.Request) -> web.Response:
    """Remove every fault rule."""
    request.app[FAULTS].clear()
    return web.json_response({"faults": []})


@routes.post("/_sim/latency")
async def latency(request: web.Request) -> web.Response:
    """Delay every Canvas answer (JSON: seconds)."""
    body = await read_body(request)
    body.only({"seconds"})
    request.app[OPTIONS].latency = body.number("seconds")
    return web.json_response({"seconds": request.app[OPTIONS].latency})


@routes.post("/_sim/options")
async def options(request: web.Request) -> web.Response:
    """Latency and Link-header quirks (JSON: latency, link_header_lowercase, link_host_upper)."""
    body = await read_body(request)
    body.only({"latency", "link_header_lowercase", "link_host_upper"})
    opts = request.app[OPTIONS]
    if "latency" in body:
        opts.latency = body.number("latency")
    for flag in ("link_header_lowercase", "link_host_upper"):
        if flag in body:
            setattr(opts, flag, body.boolean(flag))
    return web.json_response(
        {
            "latency": opts.latency,
            "link_header_lowercase": opts.link_header_lowercase,
            "link_host_upper": opts.link_host_upper,
        }
    )


@routes.get("/_sim/requests")
async def requests(request: web.Request) -> web.Response:
    """The Canvas requests received, by path (``?prefix=`` adds a count of those under it)."""
    log = request.app[REQUESTS]
    by_path: dict[str, int] = {}
    for record in log:
        path = record.path_qs.partition("?")[0]
        by_path[path] = by_path.get(path, 0) + 1
    prefix = request.query.get("prefix")
    return web.json_response(
        {
            "total": len(log),
            "by_path": by_path,
            **({"count": log.count(prefix)} if prefix is not None else {}),
            "requests": [list(r) for r in log],
        }
    )


@routes.delete("/_sim/requests")
async def clear_requests(request: web.Request) -> web.Response:
    """Forget the requests received."""
    request.app[REQUESTS].clear()
    return web.json_response({"total": 0})


@routes.post("/_sim/reset")
async def reset(request: web.Request) -> web.Response:
    """Back to the start: default world, no faults, default throttle and options, no requests."""
    app = request.app
    app[WORLD].reset()
    app[FAULTS].clear()
    app[THROTTLE].reset()
    app[OPTIONS].reset()
    app[REQUESTS].clear()
    return web.json_response({"reset": True})
