"""``GET /api/v1/status``: what the console shows of each source and sink, in one answer.

Per source: whether this replica polls it, its last good poll, why it fails, its coverage, and
for a source that watches an institution its tiers, sweep period, discovered courses and
budget. Per sink: up or not, backlog, dead letters, disabled or failing. Backlog and dead
letters come from the store (so every replica shows them, whoever delivers), at most once per
``SINK_FIGURES_TTL`` however often consoles ask: a backlog costs one command per source.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, Final

from aiohttp import web

from monitor.core.errors import StoreError
from monitor.web.views import SERVICE, ServiceView, SinkView, SourceView

SINK_FIGURES_TTL: Final = 5.0  # seconds

#: Per sink: (time.monotonic(), backlog, dead letters) of the last look in the store.
Figures = dict[str, tuple[float, int | None, int | None]]
FIGURES: Final = web.AppKey("sink_figures", Figures)


def monotonic_iso(monotonic: float | None) -> str | None:
    """A ``time.monotonic()`` moment as UTC ISO 8601 (None stays None)."""
    if monotonic is None:
        return None
    wall = time.time() - (time.monotonic() - monotonic)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


def source_status(poller: SourceView) -> dict[str, Any]:
    summary = poller.watch_summary()
    return {
        "name": poller.name,
        "polled_here": not poller.elsewhere,
        "last_successful_poll": monotonic_iso(poller.last_success),
        "interval": poller.interval,
        "failing": None if poller.failing is None else poller.failing.value,
        "error": poller.last_error,
        "coverage": poller.coverage_problem,
        "watch": None if summary is None else asdict(summary),
    }


async def _figures(app: web.Application, sink: str) -> tuple[int | None, int | None]:
    """The sink's backlog and dead letters in the store (None when it does not answer)."""
    cache = app[FIGURES]
    now = time.monotonic()
    cached = cache.get(sink)
    if cached is not None and now - cached[0] < SINK_FIGURES_TTL:
        return cached[1], cached[2]
    store = app[SERVICE].store
    try:
        backlog: int | None = await store.backlog(sink)
    except StoreError:
        backlog = None
    try:
        dead: int | None = await store.count_dead(sink)
    except StoreError:
        dead = None
    cache[sink] = (now, backlog, dead)
    return backlog, dead


async def sink_status(
    app: web.Application, name: str, kind: str, runner: SinkView | None
) -> dict[str, Any]:
    service: ServiceView = app[SERVICE]
    backlog, dead = await _figures(app, name)
    if runner is not None:
        disabled = runner.disabled
    else:  # delivered elsewhere, or by nobody: the store knows whether it is disabled
        try:
            disabled = await service.store.sink_disabled(name)
        except StoreError:
            disabled = None
    failing = None if runner is None else runner.failing
    return {
        "name": name,
        "type": kind,
        "up": disabled is None and failing is None,
        "backlog": backlog,
        "dead_letters": dead,
        "disabled": None if disabled is None else disabled.reason,
        "failing": failing,
    }


async def status(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    runners = {runner.name: runner for runner in service.runners}
    sinks = [
        await sink_status(request.app, name, kind, runners.get(name))
        for name, kind in service.sink_types().items()
    ]
    active = service.standby()
    body = {
        "sources": [source_status(poller) for poller in service.pollers],
        "sinks": sinks,
        "replica": service.replica,
        "standby": None if active is None else list(active),
    }
    return web.json_response(body)
