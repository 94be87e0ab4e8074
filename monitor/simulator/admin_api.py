"""The ``/_sim/`` admin API: drive and inspect the fake Canvas over HTTP, without auth.

For the ``simulate`` command and for tests whose simulator runs in another process. JSON in and
out, timestamps ISO 8601 UTC with ``Z``; bad input answers 400 with a message naming the field,
an unknown conference, token or context answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from monitor.simulator.admin_input import Body, parse_context_type, path_integer, read_body
from monitor.simulator.canvas_support import origin
from monitor.simulator.errors import SimInputError, SimNotFoundError
from monitor.simulator.records import SimConference
from monitor.simulator.runtime import WORLD
from monitor.simulator.serialize import iso

routes = web.RouteTableDef()
#: How each ``create_conference`` keyword is read from the JSON body.
_CREATE_FIELDS: dict[str, Callable[[Body, str], Any]] = {
    "context_type": lambda body, key: parse_context_type(body.string(key)),
    "context_id": Body.integer,
    "title": Body.string,
    "conference_type": Body.string,
    "duration": Body.optional_integer,
    "participants": Body.integers,
    "conference_id": Body.integer,
    "created_at": Body.time,
    "description": Body.optional_string,
    "record": Body.boolean,
    "has_calendar_event": Body.boolean,
}


@web.middleware
async def admin_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith("/_sim/"):
        response: web.StreamResponse = await handler(request)
        return response
    try:
        response = await handler(request)
    except (SimInputError, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except SimNotFoundError as exc:
        return web.json_response({"error": str(exc)}, status=404)
    except web.HTTPNotFound:
        return web.json_response({"error": f"no admin endpoint {request.path}"}, status=404)
    except web.HTTPMethodNotAllowed:
        return web.json_response({"error": f"{request.method} not allowed here"}, status=405)
    return response


def _truth(request: web.Request, conf: SimConference) -> dict[str, Any]:
    world = request.app[WORLD]
    return {**world.api_json(conf, base_url=origin(request)), "live": world.is_live(conf)}


def _conf_id(request: web.Request) -> int:
    return path_integer(request, "conf_id", "conference id")


@routes.get("/_sim/state")
async def state(request: web.Request) -> web.Response:
    """The ground truth: the clock, every conference (with ``live``), every context."""
    world = request.app[WORLD]
    return web.json_response(
        {
            "now": iso(world.now()),
            "conferences": [_truth(request, c) for c in world.conferences()],
            "contexts": [
                {
                    "context_type": c.context_type,
                    "context_id": c.context_id,
                    "conferences_tab": c.conferences_tab,
                    "members": sorted(c.members),
                }
                for c in world.contexts()
            ],
        }
    )


@routes.post("/_sim/conferences")
async def create(request: web.Request) -> web.Response:
    """Create a conference (JSON: context_type, context_id, title, conference_type, duration,
    participants, conference_id, ...); ``"start": true`` or ``started_at`` starts it,
    ``ended_at`` ends it."""
    body = await read_body(request)
    body.only({*_CREATE_FIELDS, "start", "started_at", "ended_at"})
    world = request.app[WORLD]
    kwargs = {key: read(body, key) for key, read in _CREATE_FIELDS.items() if key in body}
    conf = world.create_conference(**kwargs)
    if "started_at" in body or body.boolean("start", default=False):
        world.start(conf.id, body.time("started_at") if "started_at" in body else None)
    if "ended_at" in body:
        world.end(conf.id, body.time("ended_at"))
    return web.json_response(_truth(request, world.get(conf.id)), status=201)


@routes.get("/_sim/conferences/{conf_id}")
async def show(request: web.Request) -> web.Response:
    """One conference as Canvas would send it, with ``live``."""
    return web.json_response(_truth(request, request.app[WORLD].get(_conf_id(request))))


@routes.post("/_sim/conferences/{conf_id}/{action:start|end|restart}")
async def lifecycle(request: web.Request) -> web.Response:
    """``start``, ``end`` or ``restart`` a conference (optional JSON ``{"at": ISO time}`` for
    start and end)."""
    world = request.app[WORLD]
    conf_id = _conf_id(request)
    body = await read_body(request)
    body.only({"at"})
    at = body.time("at") if "at" in body else None
    match request.match_info["action"]:
        case "start":
            conf = world.start(conf_id, at)
        case "end":
            conf = world.end(conf_id, at)
        case _:
            conf = world.restart(conf_id)
    return web.json_response(_truth(request, conf))


@routes.post("/_sim/conferences/{conf_id}/participants/{user_id:\\d+}/{action:add|remove}")
async def participant(request: web.Request) -> web.Response:
    """``add`` or ``remove`` a user as a participant of a conference."""
    world = request.app[WORLD]
    conf_id, user_id = _conf_id(request), int(request.match_info["user_id"])
    if request.match_info["action"] == "add":
        conf = world.add_participant(conf_id, user_id)
    else:
        conf = world.remove_participant(conf_id, user_id)
    return web.json_response(_truth(request, conf))


@routes.delete("/_sim/conferences/{conf_id}")
async def delete(request: web.Request) -> web.Response:
    """Delete a conference, as if it had never been."""
    request.app[WORLD].delete_conference(_conf_id(request))
    return web.json_response({"deleted": _conf_id(request)})


@routes.post("/_sim/tokens")
async def add_token(request: web.Request) -> web.Response:
    """Add an API token for a user (JSON: token, user_id)."""
    body = await read_body(request)
    body.only({"token", "user_id"})
    request.app[WORLD].add_token(body.string("token"), body.integer("user_id"))
    return web.json_response({"token": body.string("token"), "user_id": body.integer("user_id")})


@routes.post("/_sim/tokens/{token}/{action:revoke|expire}")
async def token_state(request: web.Request) -> web.Response:
    """``revoke`` a token or let it ``expire``: Canvas then answers 401."""
    world, token = request.app[WORLD], request.match_info["token"]
    if request.match_info["action"] == "revoke":
        world.revoke_token(token)
    else:
        world.expire_token(token)
    return web.json_response({"token": token, "state": request.match_info["action"] + "d"})


@routes.post("/_sim/contexts")
async def add_context(request: web.Request) -> web.Response:
    """Add a course or group (JSON: context_type, context_id, conferences_tab)."""
    body = await read_body(request)
    body.only({"context_type", "context_id", "conferences_tab"})
    context_type = parse_context_type(body.string("context_type"))
    context_id = body.integer("context_id")
    tab = body.boolean("conferences_tab", default=True)
    request.app[WORLD].add_context(context_type, context_id, conferences_tab=tab)
    return web.json_response(
        {"context_type": context_type, "context_id": context_id, "conferences_tab": tab}
    )


@routes.post("/_sim/enrollments")
async def enroll(request: web.Request) -> web.Response:
    """Enroll a user in a course or group (JSON: user_id, context_type, context_id)."""
    return await _enrollment(request, enrolled=True)


@routes.post("/_sim/enrollments/remove")
async def unenroll(request: web.Request) -> web.Response:
    """Take a user out of a course or group (JSON: user_id, context_type, context_id)."""
    return await _enrollment(request, enrolled=False)


async def _enrollment(request: web.Request, *, enrolled: bool) -> web.Response:
    body = await read_body(request)
    body.only({"user_id", "context_type", "context_id"})
    user_id, context_id = body.integer("user_id"), body.integer("context_id")
    context_type = parse_context_type(body.string("context_type"))
    world = request.app[WORLD]
    if enrolled:
        world.enroll(user_id, context_type, context_id)
    else:
        world.unenroll(user_id, context_type, context_id)
    return web.json_response({"user_id": user_id, "enrolled": enrolled})
