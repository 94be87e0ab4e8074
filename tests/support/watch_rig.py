"""A source that watches an institution, driven step by step against the simulator.

The rig's ``tick`` is the schedule's clock (seconds), the ``FakeClock`` is Canvas's and the
poller's wall clock; tests move both, then ask for steps and look at what was committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import aiohttp

from monitor.core.secret import Secret
from monitor.observe.metrics import Metrics
from monitor.simulator.server import Simulator
from monitor.simulator.world import World
from monitor.store.roles import Store
from monitor.watch.poller import Poller
from monitor.watch.schedule import Tier
from monitor.watch.watch import Watch, watch_for
from tests.support.canvas_helpers import (
    SINK,
    Committed,
    FakeClock,
    FlakyStore,
    committed_events,
    fast_source,
    http_session,
    make_client,
    new_metrics,
)

ADMIN = "admin-token"
INTERVAL = 30.0


@dataclass
class Ticks:
    """The schedule's monotonic clock, moved by the test."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class WatchRig:
    sim: Simulator
    clock: FakeClock
    ticks: Ticks
    store: FlakyStore
    metrics: Metrics
    poller: Poller
    session: aiohttp.ClientSession
    seen: list[Committed] = field(default_factory=list)

    @property
    def world(self) -> World:
        return self.sim.world

    @property
    def watch(self) -> Watch:
        assert self.poller.watch is not None
        return self.poller.watch

    async def discover(self) -> None:
        assert await self.watch.discovery.refresh()

    async def step(self) -> bool:
        return await self.poller.poll_once()

    async def advance(self, seconds: float) -> None:
        """Both clocks move on by ``seconds``."""
        self.ticks.now += seconds
        self.clock.advance(seconds=seconds)

    async def sweep(self, seconds: float = INTERVAL, *, steps: int = 1000) -> int:
        """Step until nothing is due, then move ``seconds`` on; how many steps it took."""
        taken = 0
        while taken < steps:
            due = self.watch.due_in()
            if taken and (due is None or due > 0):
                break
            assert await self.step()
            taken += 1
        await self.advance(seconds)
        return taken

    async def events(self) -> list[Committed]:
        found = await committed_events(self.store)
        self.seen.extend(found)
        return found

    def tier(self, course_id: int) -> Tier | None:
        return self.watch.schedule.tier(("Course", course_id))

    def requests(self, path: str) -> int:
        return self.sim.requests.count(path)

    def replica(self, store: Store, metrics: Metrics | None = None) -> Poller:
        """Another process watching the same source (a restart, another replica)."""
        source = self.poller.source
        metrics = metrics if metrics is not None else new_metrics()
        client = make_client(self.session, source, metrics)
        watch = watch_for(source, client, store, metrics, interval=INTERVAL)
        assert watch is not None
        watch.use_clock(self.ticks, self.clock)
        return Poller(
            source, client, store, metrics, interval=INTERVAL, clock=self.clock, watch=watch
        )


@asynccontextmanager
async def watch_rig(
    store: Store, *, token: str = ADMIN, accounts: tuple[int, ...] = (1,), **overrides: object
) -> AsyncIterator[WatchRig]:
    clock = FakeClock()
    clock.advance(days=-1)  # room for conferences created "yesterday" in the simulator
    ticks = Ticks()
    async with Simulator(World(clock=clock)) as sim, http_session() as session:
        source = fast_source(sim.url, token=Secret(token), accounts=accounts, **overrides)
        metrics = Metrics(["main"], [SINK], watched=["main"])
        flaky = FlakyStore(store)
        await flaky.open_outbox([SINK], [source.name])
        client = make_client(session, source, metrics)
        watch = watch_for(source, client, flaky, metrics, interval=INTERVAL)
        assert watch is not None
        watch.use_clock(ticks, clock)
        poller = Poller(source, client, flaky, metrics, interval=INTERVAL, clock=clock, watch=watch)
        yield WatchRig(sim, clock, ticks, flaky, metrics, poller, session)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
