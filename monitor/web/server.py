"""The HTTP face: ``/metrics``, ``/healthz``, ``/readyz``, ``/api/v1/live``, the event history
(``/api/v1/events`` and its stream), ``/api/v1/status``, dead letters, and the console.

``create_app`` takes a read-only view of the running service, so the handlers can be tested
against any object that has pollers, runners, a store and metrics. Nothing here ever shows
configuration: conference objects as Canvas sent them, names, counts and times only.

Access. The server listens on 127.0.0.1 unless ``listen`` says otherwise. With ``api_token`` set,
every path except ``/metrics``, ``/healthz``, ``/readyz`` and the console's static page needs
``Authorization: Bearer <token>`` (compared in constant time; otherwise 401 with
``WWW-Authenticate: Bearer``): ``/api/v1/*`` shows conference titles and links, which are for
people with access. The open paths stay open on purpose: Kubernetes probes and Prometheus scrapes
carry no token, and they show only names of sources and sinks, counts, times and failure
reasons, never a title, a conference id or a secret; the console's page and assets
(``web/console.py``) hold no data at all and must load before they can ask for the token.
Unknown paths are protected too (deny by default), so a route added later is never open by
accident. The event stream alone also takes the token as ``?access_token=`` (a browser's
EventSource cannot set a header); the server keeps no access log, so it is written nowhere.
POSTs (dead letters) must come from this origin even without a token (``same_origin_posts``).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Sequence
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from monitor.core.errors import StoreError
from monitor.core.models import Conference, SourceState
from monitor.core.secret import Secret
from monitor.core.timings import PRODUCTION, Timings
from monitor.observe.exposition import metrics_handler
from monitor.web.console import add_console
from monitor.web.dead_letters_api import add_dead_letter_routes, local_posts, same_origin_posts
from monitor.web.event_stream import STREAMS, Streams, event_stream, unavailable
from monitor.web.events_api import BadRequestError, EventQuery, bad_request, envelope, select
from monitor.web.status_api import FIGURES, monotonic_iso, status
from monitor.web.views import SERVICE, ServiceView, SinkView, SourceView

STORE_PING_TIMEOUT: Final = 2.0
STALE_INTERVALS: Final = 3  # a source is unready after this many intervals without success
#: Paths that stay open when ``api_token`` is set: probes and scrapes (see the module docstring).
OPEN_PATHS: Final = frozenset({"/metrics", "/healthz", "/readyz"})
REALM: Final = 'Bearer realm="conference-monitor"'
STREAM_PATH: Final = "/api/v1/events/stream"


#: The one path that also takes the token as ``?access_token=``: EventSource cannot send headers.
QUERY_TOKEN_PATHS: Final = frozenset({STREAM_PATH})


def create_app(
    service: ServiceView, *, api_token: Secret | None = None, timings: Timings = PRODUCTION
) -> web.Application:
    app = web.Application()
    app[SERVICE] = service
    console = add_console(app)  # the page holds no data: it loads, then asks for the token
    if api_token is not None:
        app.middlewares.append(bearer_auth(api_token, OPEN_PATHS | console))
    app.middlewares.append(same_origin_posts if api_token is not None else local_posts)
    app[FIGURES] = {}
    streams = app[STREAMS] = Streams(timings)
    app.on_shutdown.append(streams.close)
    app.router.add_get("/metrics", metrics_handler(service.metrics))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/live", live)
    app.router.add_get("/api/v1/events", events)
    app.router.add_get(STREAM_PATH, stream)
    app.router.add_get("/api/v1/status", status)
    add_dead_letter_routes(app)
    return app


async def events(request: web.Request) -> web.Response:
    try:
        query = EventQuery.parse(request.query)
        found, more = await select(request.app[SERVICE].store, query)
    except BadRequestError as exc:
        return bad_request(str(exc))
    except StoreError as exc:
        return unavailable(f"the store is unavailable: {exc}")
    body: dict[str, object] = {"events": [envelope(entry) for entry in found]}
    if query.since_id is not None or query.since_time is not None:
        body["more"] = more  # after ``since``: the oldest ``limit`` of them; ask again for more
    return web.json_response(body)


async def stream(request: web.Request) -> web.StreamResponse:
    return await event_stream(request, request.app[SERVICE].store)


def bearer_auth(token: Secret, open_paths: frozenset[str] = OPEN_PATHS) -> Middleware:
    """Demand ``Authorization: Bearer <token>`` everywhere but ``open_paths``."""
    expected = token.reveal().encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths:
            return await handler(request)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        presented = given.strip().encode("utf-8", "surrogateescape")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented, expected):
            return await handler(request)
        if request.path in QUERY_TOKEN_PATHS and "access_token" in request.query:
            given = request.query["access_token"]
            if hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
                return await handler(request)
        challenge = f'{REALM}, error="invalid_token"' if given else REALM
        return web.json_response(
            {"error": "unauthorized", "detail": "send Authorization: Bearer <api_token>"},
            status=401,
            headers={"WWW-Authenticate": challenge},
        )

    return middleware


async def healthz(request: web.Request) -> web.Response:
    dead = request.app[SERVICE].dead_loops()
    body = {"status": "failing" if dead else "ok", "dead_loops": dead}
    return web.json_response(body, status=503 if dead else 200)


def source_checks(pollers: Sequence[SourceView]) -> list[dict[str, Any]]:
    checks = []
    now = time.monotonic()
    for poller in pollers:
        if poller.elsewhere:  # several replicas: another one polls it (and answers for it)
            checks.append({"name": f"source:{poller.name}", "ok": True, "polled_here": False})
            continue
        limit = max(STALE_INTERVALS * poller.interval, 1.0)
        age = None if poller.last_success is None else now - poller.last_success
        check: dict[str, Any] = {
            "name": f"source:{poller.name}",
            "ok": age is not None and age <= limit,
        }
        if age is None:
            check["detail"] = "no successful poll yet"
        elif age > limit:
            check["detail"] = f"last successful poll {age:.0f}s ago (limit {limit:g}s)"
        if poller.failing is not None:
            check["failing"] = poller.failing.value
            check["error"] = poller.last_error
        if (problem := poller.coverage_problem) is not None:
            check["ok"] = False
            check["coverage"] = problem
        checks.append(check)
    return checks


def sink_checks(runners: Sequence[SinkView]) -> list[dict[str, Any]]:
    """Sinks never make the service unready (it must stay scraped and alerting), but a
    disabled or failing sink is named here."""
    checks = []
    for runner in runners:
        check: dict[str, Any] = {"name": f"sink:{runner.name}", "ok": True}
        if runner.disabled is not None:
            check["disabled"] = runner.disabled.reason
        if runner.failing is not None:
            check["failing"] = runner.failing
        checks.append(check)
    return checks


async def readyz(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    store: dict[str, Any] = {"name": "store", "ok": True}
    try:
        async with asyncio.timeout(STORE_PING_TIMEOUT):
            await service.store.ping()
    except (StoreError, TimeoutError) as exc:
        store = {"name": "store", "ok": False, "detail": str(exc) or "timed out"}
    checks = [store, *source_checks(service.pollers), *sink_checks(service.runners)]
    ready = all(check["ok"] for check in checks)
    body: dict[str, Any] = {"ready": ready, "checks": checks}
    if (active := service.standby()) is not None:
        body["standby"] = {
            "active": list(active),
            "detail": "standby: other replicas poll every source and deliver every sink; "
            "this one takes over when one of them stops",
        }
    return web.json_response(body, status=200 if ready else 503)


async def live_state(service: ServiceView, poller: SourceView) -> SourceState:
    """What the source's poller knows; for a source another replica polls, what it committed."""
    if not poller.elsewhere:
        return poller.state
    try:
        return (await service.store.load(poller.name)).state
    except StoreError:
        return SourceState()


async def live(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    sources = []
    for poller in service.pollers:
        conferences = sorted((await live_state(service, poller)).live(), key=lambda c: c.id)
        sources.append(
            {
                "name": poller.name,
                "count": len(conferences),
                "polled_here": not poller.elsewhere,
                "last_successful_poll": monotonic_iso(poller.last_success),
                "failing": None if poller.failing is None else poller.failing.value,
                "conferences": [dict(c.raw) for c in conferences],
                "contexts": _contexts(poller, conferences),
            }
        )
    return web.json_response({"sources": sources})


def _contexts(poller: SourceView, conferences: Sequence[Conference]) -> dict[str, Any]:
    """The course or group of each live conference, by ``"Course:101"``: names for people."""
    found: dict[str, Any] = {}
    for conference in conferences:
        info = poller.describe(conference)
        if info is not None:
            found[f"{info.type}:{info.id}"] = info.envelope()
    return found
