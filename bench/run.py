"""Benchmarks: what a poll and a delivery cost, printed as a table and written as JSON.

    python3 dev.py bench            (or: .venv/bin/python -m bench.run [--quick])

Everything runs on loopback against the simulator and a redis-server of our own. Figures that
depend on the machine are given as ratios to a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import redis

from monitor.canvas import CanvasClient
from monitor.config import SinkConfig, SinkType
from monitor.diff import diff, vanished
from monitor.dispatch import SinkRunner
from monitor.lane import Lane
from monitor.metrics import Metrics
from monitor.models import Conference, SourceState
from monitor.poller import Poller
from monitor.secret import Secret
from monitor.simulator import Simulator
from monitor.sinks import WebhookSink
from monitor.store_memory import MemoryStore
from monitor.store_redis import RedisStore
from tests.delivery_helpers import started
from tests.factories import NOW, raw_conference, snapshot
from tests.receiver import Receiver
from tests.redis_server import start_redis
from tests.service import running, settings_for, source_config, webhook_config

RESULTS = Path(__file__).resolve().parent / "results"


def best_of(repeat: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def processing_cost(n: int) -> dict[str, Any]:
    """Parse + diff of an idle poll of ``n`` conferences, against ``json.loads`` of its pages."""
    pages = [
        json.dumps({"conferences": [raw_conference(i) for i in range(p, min(p + 100, n))]}).encode()
        for p in range(0, n, 100)
    ]
    loads = best_of(5, lambda: [json.loads(page) for page in pages])

    def parse() -> dict[int, Conference]:
        records = [r for page in pages for r in json.loads(page)["conferences"]]
        return {c.id: c for r in records if (c := Conference.from_api(r)) is not None}

    state = diff("main", SourceState(), parse(), {}, now=NOW).state

    def idle_poll() -> None:
        current = parse()
        vanished(state, current)
        diff("main", state, current, {}, now=NOW)

    ours = best_of(5, idle_poll)
    return {"n": n, "json_loads_s": loads, "poll_s": ours, "ratio": ours / loads}


async def canvas_requests(sim: Simulator, n: int) -> dict[str, Any]:
    """Requests one poll sends for ``n`` live conferences (the floor is ceil(n / 100))."""
    sim.world.reset()
    for _ in range(n):
        sim.world.start(sim.world.create_conference().id)
    metrics = Metrics(["main"], [])
    async with aiohttp.ClientSession() as session:
        source = source_config(sim.url, poll_timeout=60.0, rate_limit=1000.0)
        client = CanvasClient(session, source, Lane(source.rate_limit), metrics)
        poller = Poller(source, client, MemoryStore(), metrics, interval=1.0)
        sim.requests.clear()
        assert await poller.poll_once()
        first = sim.requests.count("/api/v1/")
        sim.requests.clear()
        assert await poller.poll_once()
        idle = sim.requests.count("/api/v1/")
    return {"n": n, "requests_first_poll": first, "requests_idle_poll": idle, "floor": -(-n // 100)}


async def redis_per_idle_poll(sim: Simulator, url: str, polls: int) -> dict[str, Any]:
    """Redis commands per idle poll, all loops included (INFO commandstats)."""
    sim.world.reset()
    for _ in range(20):
        sim.world.start(sim.world.create_conference().id)
    async with Receiver() as hook:
        settings = settings_for(
            (source_config(sim.url),), (webhook_config(hook.url),), state_url=url, poll_interval=0.1
        )
        async with running(settings):
            await asyncio.sleep(1.0)  # baseline taken, loops settled
            client = redis.Redis.from_url(url)
            before = _calls(client)
            started = time.monotonic()
            await asyncio.sleep(polls * 0.1)
            elapsed = time.monotonic() - started
            after = _calls(client)
            client.close()
    commands = after - before - 2  # our own two INFO calls
    polled = elapsed / 0.1
    return {"polls": round(polled), "commands": commands, "per_poll": commands / polled}


def _calls(client: redis.Redis) -> int:
    stats: Any = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


async def delivery_throughput(url: str, events: int, concurrency: int) -> dict[str, Any]:
    """Events/s through SinkRunner + Redis, against a bare aiohttp POST loop, same receiver."""
    async with Receiver() as hook, aiohttp.ClientSession() as session:
        body = started("main", 1).events[0].body()

        async def bare() -> None:
            queue = list(range(events))

            async def worker() -> None:
                while queue:
                    queue.pop()
                    async with session.post(hook.url, data=body) as response:
                        await response.read()

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        bare_s = await _timed(bare)

        redis.Redis.from_url(url).flushall()
        store = RedisStore.from_url(Secret(url), consumer="bench")
        config = SinkConfig("bench", SinkType.WEBHOOK, Secret(hook.url), concurrency=concurrency)
        await store.open_outbox(["bench"], ["main"])
        version = 0
        for chunk in range(0, events, 500):
            ids = range(chunk + 1, min(chunk + 501, events + 1))
            live = snapshot(*(_conference(i) for i in ids))
            outcome = diff("main", SourceState(baselined=True), live, {}, now=NOW)
            version = await store.commit("main", version, outcome)
        metrics = Metrics(["main"], ["bench"])
        runner = SinkRunner(WebhookSink(config, session), config, store, metrics)
        stop = asyncio.Event()
        before = len(hook.delivered)

        async def ours() -> None:
            await hook.wait_for(before + events, within=120)

        task = asyncio.create_task(runner.run(stop, 5.0))
        ours_s = await _timed(ours)  # until the receiver has them all; stopping is not timed
        stop.set()
        await task
        await store.close()
    return {
        "events": events,
        "concurrency": concurrency,
        "bare_per_s": events / bare_s,
        "ours_per_s": events / ours_s,
        "ratio": bare_s / ours_s,
    }


def _conference(i: int) -> Conference:
    parsed = Conference.from_api(raw_conference(i))
    assert parsed is not None
    return parsed


async def _timed(work: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def main(quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "processing": [processing_cost(n) for n in ((1_000,) if quick else (1_000, 10_000))],
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = start_redis(Path(tmp))
        try:
            async with Simulator() as sim:
                sim.throttle.enabled = False
                sizes = (100, 1_000) if quick else (100, 1_000, 10_000)
                results["canvas_requests"] = [await canvas_requests(sim, n) for n in sizes]
                results["redis_idle"] = await redis_per_idle_poll(sim, server.url, 30)
            results["delivery"] = await delivery_throughput(server.url, 500 if quick else 3000, 8)
        finally:
            server.process.terminate()
            server.process.wait()
    return results


def report(results: dict[str, Any]) -> None:
    print(f"{'scenario':<44} {'figure':>14}  target")
    for row in results["processing"]:
        name = f"parse+diff idle poll, N={row['n']}"
        print(f"{name:<44} {row['ratio']:>13.2f}x  <= 2x json.loads")
    for row in results["canvas_requests"]:
        name = f"Canvas requests per poll, N={row['n']}"
        print(f"{name:<44} {row['requests_idle_poll']:>14}  = {row['floor']}")
    idle = results["redis_idle"]
    print(f"{'Redis commands per idle poll':<44} {idle['per_poll']:>14.2f}  <= 2")
    d = results["delivery"]
    print(
        f"{'delivery throughput vs bare aiohttp':<44} {d['ratio']:>13.0%}  >= 50%"
        f"   ({d['ours_per_s']:.0f}/s vs {d['bare_per_s']:.0f}/s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    figures = asyncio.run(main(args.quick))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(figures, indent=2))
    report(figures)
