"""Against what users write today: a synchronous poller built on ``canvasapi`` (its
``PaginatedList`` over ``conferences``, the way its users reach an endpoint the package does not
wrap), polling 100 sources one after the other, against our full cycle (poll, diff, commit to
Redis) of the same 100 sources, with Canvas answering in 50 ms. Ours must be at least ten times
faster and send no more requests. The baseline asks for 100 a page, its best case.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import aiohttp
import redis
from canvasapi import Canvas  # type: ignore[import-untyped,import-not-found,unused-ignore]
from canvasapi.canvas_object import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
    CanvasObject,
)
from canvasapi.paginated_list import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
    PaginatedList,
)

from bench.table import Row
from bench.world import IndexedWorld, many_users
from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Lane
from monitor.core.secret import Secret
from monitor.observe.metrics import Metrics
from monitor.simulator import Simulator
from monitor.store.redis.store import RedisStore
from monitor.watch.poller import Poller
from tests.support.service import source_config

SPEED = 10.0


def canvasapi_cycle(url: str, tokens: list[str]) -> int:
    """One cycle as a canvasapi user writes it; the number of live conferences seen."""
    seen = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # canvasapi warns about http:// URLs
        for token in tokens:
            canvas = Canvas(url, token)
            conferences = PaginatedList(
                CanvasObject,
                canvas._Canvas__requester,
                "GET",
                "conferences",
                _root="conferences",
                state="live",
            )
            seen += len(list(conferences))
    return seen


async def measure(redis_url: str, sources: int, cycles: int) -> dict[str, Any]:
    redis.Redis.from_url(redis_url).flushall()
    world = IndexedWorld()
    tokens = many_users(world, sources, 20)
    async with Simulator(world) as sim:
        sim.latency = 0.05
        store = RedisStore.from_url(Secret(redis_url), consumer="bench")
        names = [f"s{i:04d}" for i in range(sources)]
        await store.open_outbox(["hook"], names)
        metrics = Metrics(names, ["hook"])
        connector = aiohttp.TCPConnector(limit=256, limit_per_host=0)  # as the service's
        async with aiohttp.ClientSession(connector=connector) as session:
            pollers = []
            for name, token in zip(names, tokens, strict=True):
                source = source_config(sim.url, name=name, token=Secret(token), poll_timeout=60.0)
                client = CanvasClient(session, source, Lane(source.rate_limit), metrics)
                pollers.append(Poller(source, client, store, metrics, interval=30.0))
            await asyncio.gather(*(p.poll_once() for p in pollers))  # the baseline
            ours, ours_requests = [], 0
            for _ in range(cycles):
                sim.requests.clear()
                began = time.perf_counter()
                done = await asyncio.gather(*(p.poll_once() for p in pollers))
                ours.append(time.perf_counter() - began)
                ours_requests = len(sim.requests)
                assert all(done)
        await store.close()
        theirs, theirs_requests, seen = [], 0, 0
        loop = asyncio.get_running_loop()
        # In a process of its own, so that the simulator's work does not slow the baseline.
        with ProcessPoolExecutor(1) as pool:
            await loop.run_in_executor(pool, int, 0)  # the process is up before timing
            for _ in range(cycles):
                sim.requests.clear()
                began = time.perf_counter()
                seen = await loop.run_in_executor(pool, canvasapi_cycle, sim.url, tokens)
                theirs.append(time.perf_counter() - began)
                theirs_requests = len(sim.requests)
    return {
        "sources": sources,
        "latency_s": 0.05,
        "ours_cycle_s": min(ours),
        "canvasapi_cycle_s": min(theirs),
        "speedup": min(theirs) / min(ours),
        "ours_requests": ours_requests,
        "canvasapi_requests": theirs_requests,
        "canvasapi_conferences_seen": seen,
    }


def rows(result: dict[str, Any]) -> list[Row]:
    ok = result["speedup"] >= SPEED and result["ours_requests"] <= result["canvasapi_requests"]
    return [
        Row(
            f"full cycle vs canvasapi poller, {result['sources']} sources, 50 ms",
            f"{result['speedup']:.1f}x faster ({result['ours_cycle_s']:.2f} s vs "
            f"{result['canvasapi_cycle_s']:.2f} s); requests {result['ours_requests']} vs "
            f"{result['canvasapi_requests']}",
            f">= {SPEED:g}x, requests <=",
            ok,
            result["speedup"],
            result,
        )
    ]
