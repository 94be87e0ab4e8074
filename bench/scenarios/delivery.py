"""Delivery throughput: events per second from the Redis outbox to a local webhook receiver,
through the real ``SinkRunner`` (read, render, sign, POST, acknowledge), against a bare aiohttp
POST loop with the same concurrency to the same receiver in the same run. The bare loop is the
ceiling of any Python sender; the runner must reach at least half of it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import redis

from bench.table import Row
from monitor.config.settings import SinkConfig, SinkType
from monitor.core.diff import diff
from monitor.core.models import Conference, SourceState
from monitor.core.secret import Secret
from monitor.delivery.dispatch import SinkRunner
from monitor.delivery.sinks import WebhookSink
from monitor.observe.metrics import Metrics
from monitor.store.redis.store import RedisStore
from tests.support.delivery_helpers import started
from tests.support.factories import NOW, raw_conference, snapshot
from tests.support.receiver import Receiver

TARGET = 0.5


async def _bare(url: str, body: bytes, events: int, concurrency: int) -> float:
    left = [events]
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                async with session.post(url, data=body) as response:
                    await response.read()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - began


async def _fill(store: RedisStore, events: int) -> None:
    version = 0
    for chunk in range(0, events, 500):
        ids = range(chunk + 1, min(chunk + 501, events + 1))
        live = snapshot(*(_conference(i) for i in ids))
        outcome = diff("main", SourceState(baselined=True), live, {}, now=NOW)
        version = await store.commit("main", version, outcome)


async def ours(redis_url: str, hook: Receiver, events: int, concurrency: int) -> float:
    redis.Redis.from_url(redis_url).flushall()
    store = RedisStore.from_url(Secret(redis_url), consumer="bench")
    config = SinkConfig("bench", SinkType.WEBHOOK, Secret(hook.url), concurrency=concurrency)
    await store.open_outbox(["bench"], ["main"])
    await _fill(store, events)
    before = len(hook.requests)
    async with aiohttp.ClientSession() as session:
        runner = SinkRunner(
            WebhookSink(config, session), config, store, Metrics(["main"], ["bench"])
        )
        stop = asyncio.Event()
        began = time.perf_counter()
        task = asyncio.create_task(runner.run(stop, 5.0))
        # Not ``hook.wait_for``: its check copies every request so far, at every request.
        async with hook._arrived:
            await hook._arrived.wait_for(lambda: len(hook.requests) >= before + events)
        elapsed = time.perf_counter() - began  # until the receiver has them all
        stop.set()
        await task
    await store.close()
    return elapsed


async def measure(redis_url: str, events: int, concurrency: int) -> dict[str, Any]:
    async with Receiver() as hook:
        bare_s = await _bare(hook.url, started("main", 1).events[0].body(), events, concurrency)
        ours_s = await ours(redis_url, hook, events, concurrency)
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


def rows(result: dict[str, Any]) -> list[Row]:
    return [
        Row(
            f"delivery throughput vs bare aiohttp, concurrency {result['concurrency']}",
            f"{result['ratio']:.0%} "
            f"({result['ours_per_s']:,.0f}/s vs {result['bare_per_s']:,.0f}/s)",
            f">= {TARGET:.0%}",
            result["ratio"] >= TARGET,
            result["ratio"],
            result,
        )
    ]
