"""The real service watching many sources that do not change, over whole poll intervals: what
it costs in CPU, memory and Redis commands, and whether every source was polled every interval.

Each source has its own token, user and course with ``live`` live conferences; one webhook sink
is configured, so the dispatcher's loops run as in production. Measuring starts once every
source has completed a poll (the baseline, committed), ``SETTLE`` seconds and ``warmup`` more
intervals later (start-up work: sink adoption, first trims), and spans whole intervals, during
which ``/metrics`` is scraped as Prometheus would (``service.SCRAPE_EVERY``): a scrape of 1,000
sources' series is part of what the service costs.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import redis

from bench import service
from bench.scenarios import poll_cpu
from bench.world import IndexedWorld, many_users
from monitor.simulator import Simulator
from tests.support.receiver import Receiver

SETTLE = 3.0  # seconds after the baseline polls, for their commits and the first deliveries


async def measure(
    redis_url: str,
    workdir: Path,
    *,
    sources: int,
    live: int,
    latency: float,
    interval: float,
    intervals: int,
    warmup: int = 0,
    baseline_within: float | None = None,
    bare: bool = False,
) -> dict[str, Any]:
    """The service's figures; with ``bare``, also those of a bare aiohttp loop doing the same
    GETs against the same simulator, beside it over the same window (``scenarios.poll_cpu``)."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    baseline: dict[str, Any] | None = None
    world = IndexedWorld()
    tokens = many_users(world, sources, live)
    async with Simulator(world) as sim, Receiver() as hook:
        sim.latency = latency
        configs = [
            {"name": f"s{i:04d}", "base_url": sim.url, "token": token}
            for i, token in enumerate(tokens)
        ]
        settings = service.config(configs, hook.url, redis_url, interval)
        async with service.running(settings, workdir) as svc, AsyncExitStack() as stack:
            within = 3 * interval + 30 if baseline_within is None else baseline_within
            ready = await service.baselined(svc, sources, within=within)
            startup_failures = await svc.samples("conference_monitor_poll_failures_total")
            loop = None
            if bare:
                loop = await stack.enter_async_context(
                    poll_cpu.bare_loop(sim.url, tokens, interval)
                )
            await asyncio.sleep(SETTLE + warmup * interval)
            polls = await svc.samples("conference_monitor_polls_total")
            failures = await svc.samples("conference_monitor_poll_failures_total")
            requests = await svc.samples("conference_monitor_canvas_requests_total")
            commands, cpu, started = (
                service.commandstats(client),
                svc.cpu_seconds(),
                time.monotonic(),
            )
            bare_cpu = loop.cpu_seconds() if loop else 0.0
            scraping = await svc.scraped_for(interval * intervals)
            cpu = svc.cpu_seconds() - cpu
            elapsed = time.monotonic() - started
            if loop is not None:
                bare_cpu = loop.cpu_seconds() - bare_cpu
                baseline = {
                    "cpu_s": bare_cpu,
                    "cpu_share": bare_cpu / elapsed,
                    "elapsed_s": elapsed,
                    "requests_per_s": await loop.finish(),
                }
            commands = service.commandstats(client) - commands
            memory = svc.memory()
            polled = await svc.samples("conference_monitor_polls_total")
            failed = await svc.samples("conference_monitor_poll_failures_total")
            requested = await svc.samples("conference_monitor_canvas_requests_total")
    per_source = [polled[name] - polls.get(name, 0.0) for name in polled]
    total_polls = sum(per_source)
    return {
        "sources": sources,
        "live_per_source": live,
        "latency_s": latency,
        "interval_s": interval,
        "intervals": intervals,
        "warmup_intervals": warmup,
        "startup_poll_failures": sum(startup_failures.values()),
        "baselined_before_measuring": ready,
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "cpu_share": cpu / elapsed,
        **memory,
        **scraping,
        "polls": total_polls,
        "fewest_polls_of_a_source": min(per_source, default=0.0),
        "poll_failures": sum(failed.values()) - sum(failures.values()),
        "redis_commands": sum(commands.values()),
        "redis_commands_per_poll": sum(commands.values()) / max(1.0, total_polls),
        "redis_commands_by_name": dict(commands.most_common()),
        # Canvas requests in the window, per second (the bare loop must send as many).
        "canvas_requests_per_s": (sum(requested.values()) - sum(requests.values())) / elapsed,
        **({} if baseline is None else {"bare": baseline}),
    }
