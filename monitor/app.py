"""Lifecycle in one place: build the service from settings, run it, stop it gracefully.

Start-up order matters: the outbox's consumer groups exist before any poller can commit, so no
event is committed before a sink listens. Leases decide what this replica works on (a source
is polled, a sink delivered to, by one replica at a time). Stop order matters too: pollers stop
first (a poll cut short commits nothing), deliveries in flight get ``shutdown_timeout`` to
finish, then the leases are handed back (the other replicas take over at once) and sessions and
pools close. Anything left unacknowledged is delivered after the next start, here or elsewhere.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import Final

import aiohttp
import structlog
from aiohttp import web

from monitor import USER_AGENT, __version__
from monitor.config.settings import Settings
from monitor.core.aio import first
from monitor.core.errors import StoreError
from monitor.core.lease_name import LeaseName
from monitor.core.timings import PRODUCTION, Timings
from monitor.delivery.backlog import OutboxGauges
from monitor.delivery.sinks import Sink, make_sink
from monitor.delivery.supervise import deliver_while_held
from monitor.observe.metrics import Metrics
from monitor.replicas import identity, name_claim
from monitor.service import Service, workers
from monitor.store.base import open_store
from monitor.store.roles import Store
from monitor.store.values import HistoryBounds
from monitor.web.server import create_app

log = structlog.get_logger("monitor.app")

#: Seconds the HTTP server lets requests in flight finish when the service stops.
WEB_SHUTDOWN: Final = 5.0


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    sinks: Mapping[str, Sink] | None = None,
    on_listening: Callable[[str], None] | None = None,
    store: Store | None = None,
    replica: str | None = None,
    timings: Timings = PRODUCTION,
) -> None:
    """Run until ``stop`` is set. ``sinks`` replaces configured sinks by name (demo, tests);
    ``replica`` names this process among replicas (default: a name of its own, ``identity``);
    ``timings`` are what every part waits (tests shorten them).
    Raises ``ReplicaNameTakenError`` when another live process has this name."""
    source_names = [s.name for s in settings.sources]
    sink_names = [s.name for s in settings.sinks]
    watched = [s.name for s in settings.sources if s.accounts]
    metrics = Metrics(source_names, sink_names, watched=watched)
    metrics.poll_interval.set(settings.poll_interval)
    for warning in settings.warnings:
        log.warning("config_warning", message=warning)
    async with AsyncExitStack() as stack:
        me = name_claim.start_identity(settings.state_url.reveal(), replica)
        stack.callback(me.release)  # names are held to the end, after the store is closed
        owned = store is None
        history = HistoryBounds(settings.history_max_events, settings.history_max_age)
        store = store or open_store(
            settings.state_url, consumer=me.name, timings=timings, history=history
        )
        session = aiohttp.ClientSession(
            headers={"User-Agent": USER_AGENT},
            # No cap per host: a token's Canvas requests already go one at a time (its lane,
            # invariant 7), so a Canvas host never sees more at once than there are tokens. A
            # cap of 32 queued 100 sources' polls behind each other at every tick, at a cost
            # (bench: CPU of polling, 100 sources every second; docs/performance.md).
            connector=aiohttp.TCPConnector(limit=256, limit_per_host=0),
        )
        stack.push_async_callback(session.close)
        built = workers(settings, me, store, session, metrics, timings=timings)
        service = Service(settings, store, metrics, *built, timings=timings)
        if owned:
            stack.push_async_callback(lambda: service.store.close())  # noqa: PLW0108 - the store as it is by then
        service.sinks = {
            c.name: (sinks or {}).get(c.name) or make_sink(c, session) for c in settings.sinks
        }

        url = await _listen(service, stack)
        log.info(
            "listening",
            url=url,
            version=__version__,
            replica=me.name,
            sources=source_names,
            sinks=sink_names,
        )
        if on_listening is not None:
            on_listening(url)
        if not await _open_outbox(store, sink_names, source_names, stop, timings.store_retry):
            return
        settled = await name_claim.settle(
            store, me, settings.lease_ttl, stop, url=settings.state_url.reveal(), timings=timings
        )
        if settled is None:
            return
        if settled is not me:  # a default name alive elsewhere: this process moved on
            stack.callback(settled.release)
            if owned:
                await store.close()
                service.store = open_store(
                    settings.state_url, consumer=settled.name, timings=timings, history=history
                )
            service.pollers, service.leases = workers(
                settings, settled, service.store, session, metrics, timings=timings
            )
        await _run(service, stop)
        if service.leases.name_taken.is_set():
            raise identity.taken(settled.name)
    log.info("stopped")


async def _listen(service: Service, stack: AsyncExitStack) -> str:
    app = create_app(service, api_token=service.settings.api_token, timings=service.timings)
    # Requests still open at a stop get a few seconds, well inside a pod's grace period
    # (aiohttp's default is 60 s); the event streams end at once anyway (``Streams.close``).
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=WEB_SHUTDOWN
    )
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    listen = service.settings.listen
    await web.TCPSite(runner, listen.host, listen.port, reuse_address=True).start()
    host, port = runner.addresses[0][:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


async def _open_outbox(
    store: Store, sinks: Sequence[str], sources: Sequence[str], stop: asyncio.Event, retry: float
) -> bool:
    """Create consumer groups before any commit; wait for the store if it is not up yet."""
    waiting = False
    while not stop.is_set():
        try:
            await store.open_outbox(sinks, sources)
        except StoreError as exc:
            if not waiting:
                log.warning("store_unavailable", error=str(exc))
                waiting = True
            try:
                await asyncio.wait_for(stop.wait(), retry)
            except TimeoutError:
                continue
        else:
            if waiting:
                log.info("store_available")
            return True
    return False


async def _run(service: Service, requested: asyncio.Event) -> None:
    grace = service.settings.shutdown_timeout
    handed_back = asyncio.Event()  # leases are given up last, after the work under them
    stop = asyncio.Event()  # a stop was requested, or another process took this one's name
    async with asyncio.TaskGroup() as group:
        service.tasks["leases"] = group.create_task(service.leases.run(handed_back))
        polling = [group.create_task(poller.run(stop)) for poller in service.pollers]
        delivering = [
            group.create_task(
                deliver_while_held(
                    config.name,
                    leases=service.leases,
                    store=service.store,
                    make_runner=service.runner_factory(config),
                    running=service.running,
                    stop=stop,
                    grace=grace,
                    timings=service.timings,
                )
            )
            for config in service.settings.sinks
        ]
        for poller, task in zip(service.pollers, polling, strict=True):
            service.tasks[f"poller:{poller.name}"] = task
        for config, task in zip(service.settings.sinks, delivering, strict=True):
            service.tasks[f"sink:{config.name}"] = task
        service.tasks["housekeeping"] = group.create_task(_housekeeping(service, stop))
        await first(requested.wait(), service.leases.name_taken.wait())
        stop.set()
        log.info("stopping", grace=grace)
        for task in polling:  # a poll cut short commits nothing
            task.cancel()
        await asyncio.gather(*delivering, return_exceptions=True)
        handed_back.set()


async def _housekeeping(service: Service, stop: asyncio.Event) -> None:
    """Refresh the outbox gauges and trim acknowledged entries, on a slow beat (the first trim
    at once: it covers every outbox, for what the last run acknowledged). Local checks are
    frequent, the store is asked far less often (``backlog``); a trim costs a script per outbox
    stream that acknowledgements moved since the last one (``RedisOutbox.trim``): nothing while
    idle, and not more than one per stream every ``trim_every``."""
    timings = service.timings
    last_trim = -timings.trim_every
    gauges = OutboxGauges(
        [config.name for config in service.settings.sinks],
        service.store,
        service.metrics,
        elsewhere=lambda sink: service.leases.elsewhere(LeaseName.sink(sink)),
        timings=timings,
    )
    while not stop.is_set():
        try:
            await gauges.refresh(service.running)
            if time.monotonic() - last_trim >= timings.trim_every:
                last_trim = time.monotonic()
                await service.store.trim()
        except StoreError as exc:
            log.debug("housekeeping_failed", error=str(exc))
        try:
            await asyncio.wait_for(stop.wait(), timings.housekeeping_every)
        except TimeoutError:
            continue
