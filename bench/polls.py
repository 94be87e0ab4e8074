"""One source's polls, instrumented: Canvas requests (the simulator's log) and Redis round trips
and bytes (a counting proxy), for a first, an idle and a changed poll of N live conferences.

The changed poll sees one conference start and three end, in two courses: the floor for it is
one page per 100 live conferences plus one confirmation page per course that lost one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import redis

from bench.redis_proxy import RedisProxy
from bench.world import COURSE_BASE, live_for_one_user
from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Lane
from monitor.core.secret import Secret
from monitor.observe.metrics import Metrics
from monitor.simulator import Simulator
from monitor.store.redis.store import RedisStore
from monitor.watch.poller import Poller
from tests.support.service import source_config


@dataclass(frozen=True, slots=True)
class PollCost:
    n: int
    kind: str  # first | idle | changed
    canvas_requests: int
    canvas_floor: int
    round_trips: int
    bytes_sent: int
    bytes_received: int

    @property
    def bytes_moved(self) -> int:
        return self.bytes_sent + self.bytes_received

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "bytes_moved": self.bytes_moved}


async def measure(sim: Simulator, redis_port: int, n: int) -> list[PollCost]:
    sim.world.reset()
    ids = live_for_one_user(sim.world, n)
    redis.Redis(port=redis_port).flushall()
    costs: list[PollCost] = []
    async with RedisProxy(redis_port) as proxy, aiohttp.ClientSession() as session:
        store = RedisStore.from_url(Secret(proxy.url), consumer="bench")
        await store.open_outbox(["hook"], ["main"])  # a sink listens, so events are written
        metrics = Metrics(["main"], ["hook"])
        source = source_config(sim.url, poll_timeout=300.0, request_timeout=60.0, rate_limit=1e4)
        client = CanvasClient(session, source, Lane(source.rate_limit), metrics)
        poller = Poller(source, client, store, metrics, interval=30.0)

        async def poll(kind: str, floor: int) -> None:
            sim.requests.clear()
            proxy.reset()
            if not await poller.poll_once():
                raise RuntimeError(f"the {kind} poll of N={n} failed: {poller.last_error}")
            counts = proxy.reset()
            costs.append(
                PollCost(
                    n,
                    kind,
                    len(sim.requests),
                    floor,
                    counts.round_trips,
                    counts.sent,
                    counts.received,
                )
            )

        pages = math.ceil(n / 100)
        await poll("first", pages)
        await poll("idle", pages)
        fresh = sim.world.create_conference(context_id=COURSE_BASE, participants=(1,))
        sim.world.start(fresh.id)
        for gone in (ids[0], ids[1], ids[-1]):  # the first course and the last one
            sim.world.end(gone)
        # + 2 confirmations, + 2 names: the first events in those two courses ask each one's
        # facts once (``GET /api/v1/courses/:id``, cached: issue 14's names in every event).
        await poll("changed", math.ceil((n + 1 - 3) / 100) + 2 + 2)
        await store.close()
    return costs
