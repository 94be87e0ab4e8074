"""The running service's parts, built from settings: the pollers and the lease keeper of this
replica (``workers``), and the ``Service`` that holds them with the sinks, which the web
handlers read (``web/views.py``) and ``app`` starts and stops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import aiohttp

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import token_lanes
from monitor.config.settings import Settings, SinkConfig, SinkType
from monitor.core.lease_name import LeaseName
from monitor.core.models import EventType
from monitor.core.timings import PRODUCTION, Timings
from monitor.delivery.dispatch import SinkRunner
from monitor.delivery.routes import Routes
from monitor.delivery.sinks import Sink
from monitor.observe import logs
from monitor.observe.metrics import Metrics
from monitor.replicas import identity
from monitor.replicas.leases import LeaseKeeper
from monitor.store.roles import Store
from monitor.watch.poller import Poller
from monitor.watch.watch import watch_for


class Service:
    """The running parts, as the web handlers see them."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        metrics: Metrics,
        pollers: Sequence[Poller],
        leases: LeaseKeeper,
        *,
        timings: Timings = PRODUCTION,
    ) -> None:
        self.settings = settings
        self.timings = timings
        self.store = store
        self.metrics = metrics
        self.pollers = pollers
        self.leases = leases
        self.running: list[SinkRunner] = []  # the sinks this replica delivers for, now
        self.runners: Sequence[SinkRunner] = self.running  # the same, as the web reads it
        self.sinks: dict[str, Sink] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        # The account trees of sources with accounts, for sinks that route by department.
        self.routes = Routes(lambda: self.store, [s.name for s in settings.sources if s.accounts])

    def runner_factory(self, config: SinkConfig) -> Callable[[], SinkRunner]:
        sink = self.sinks[config.name]
        return lambda: SinkRunner(
            sink, config, self.store, self.metrics, timings=self.timings, routes=self.routes
        )

    def standby(self) -> tuple[str, ...] | None:
        return self.leases.standby()

    @property
    def replica(self) -> str:
        return self.leases.replica

    def sink_types(self) -> dict[str, str]:
        return {config.name: config.type.value for config in self.settings.sinks}

    def dead_loops(self) -> list[str]:
        """Loops that ended, or whose heartbeat is older than their longest legitimate wait."""
        now = time.monotonic()
        beats = [
            (f"poller:{p.name}", p.heartbeat, p.interval + p.source.poll_timeout + 30)
            for p in self.pollers
        ] + [(f"sink:{r.name}", r.heartbeat, self.timings.runner_silence) for r in self.runners]
        dead = {name for name, task in self.tasks.items() if task.done()}
        dead.update(
            name for name, beat, allowance in beats if name in self.tasks and now - beat > allowance
        )
        return sorted(dead)


def events_printed(settings: Settings, source: str) -> bool:
    """Does a console sink already show each event of ``source`` to the person reading the
    logs (a console sink whose filters let every one of them through)?

    Then the poller's per-event log line would print every event twice on a terminal; it goes
    to debug. JSON logs (containers, files) keep it at info: there it is the machine record
    (with the event id), which the console sink's human line is not.
    """
    return logs.for_people() and any(
        s.type is SinkType.CONSOLE
        and s.events == frozenset(EventType)
        and (s.sources is None or source in s.sources)
        and s.conference_types is None
        and s.context_types is None
        for s in settings.sinks
    )


def workers(
    settings: Settings,
    me: identity.Identity,
    store: Store,
    session: aiohttp.ClientSession,
    metrics: Metrics,
    *,
    timings: Timings,
) -> tuple[list[Poller], LeaseKeeper]:
    """The pollers and the lease keeper of this replica, under its name."""
    names = [LeaseName.source(s.name) for s in settings.sources]
    names += [LeaseName.sink(s.name) for s in settings.sinks]
    ttl = settings.lease_ttl
    leases = LeaseKeeper(store, me.name, names, ttl, metrics, nonce=me.nonce, timings=timings)
    lanes = token_lanes(settings.sources, timings)
    pollers = []
    for source in settings.sources:
        client = CanvasClient(session, source, lanes[source.name], metrics, timings=timings)
        interval = settings.poll_interval
        pollers.append(
            Poller(
                source,
                client,
                store,
                metrics,
                interval=interval,
                leases=leases,
                quiet_events=events_printed(settings, source.name),
                timings=timings,
                watch=watch_for(source, client, store, metrics, interval=interval),
            )
        )
    return pollers, leases
