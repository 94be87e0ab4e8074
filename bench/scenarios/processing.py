"""Processing cost per poll: what the monitor spends on a poll besides waiting for Canvas (HTTP
client, strict JSON, parsing, diff, commit), as a ratio to ``json.loads`` alone on the same pages,
the least any Python poller must spend. The ratio, not the time, is the figure: it does not
depend on the machine.

The simulator runs in a process of its own, and the poll's cost is this process's CPU time
(``time.process_time``), so Canvas's latency and the simulator's work are left out. The steps
are also timed one by one on the captured pages, to show where the time goes. An idle poll
answers unchanged pages from memory (``monitor.pages``); the same poll with every page parsed
again, as when each had changed because conferences before it started or ended (its records
moved, they did not change), is measured too, and shown beside it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL

from bench.sim_process import simulator_process
from bench.table import Row
from monitor.canvas.client import CanvasClient
from monitor.canvas.http_headers import next_link
from monitor.canvas.lane import Lane
from monitor.canvas.pages import parse
from monitor.core import canvas_json
from monitor.core.diff import diff, vanished
from monitor.core.models import Conference, SourceState
from monitor.core.secret import Secret
from monitor.observe.metrics import Metrics
from monitor.store.redis.codec import commit_args
from monitor.store.redis.store import RedisStore
from monitor.watch.poller import Poller, utcnow
from tests.support.service import SIM_TOKEN, source_config

REPEAT = 5
TARGET = 2.0


def best_cpu(work: Callable[[], object], repeat: int = REPEAT) -> float:
    timings = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        timings.append(time.process_time() - started)
    return min(timings)


async def pages_of(url: str) -> list[bytes]:
    """The live list's pages, as the monitor receives them."""
    pages = []
    next_url: str | None = f"{url}/api/v1/conferences?state=live&per_page=100"
    headers = {"Authorization": f"Bearer {SIM_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        while next_url is not None:
            async with http.get(URL(next_url, encoded=True), headers=headers) as response:
                pages.append(await response.read())
                next_url = next_link(response.headers)
    return pages


def steps(pages: list[bytes]) -> dict[str, float]:
    """Each step of an idle poll alone, CPU seconds (best of ``REPEAT``)."""
    decoded = [canvas_json.decode(page) for page in pages]
    records = [r for page in decoded for r in page["conferences"]]
    current = {c.id: c for r in records if (c := Conference.from_api(r)) is not None}
    now = utcnow()
    state = diff("main", SourceState(), current, {}, now=now).state
    return {
        "json_loads": best_cpu(lambda: [json.loads(page) for page in pages]),
        "strict_decode": best_cpu(lambda: [canvas_json.decode(page) for page in pages]),
        "from_api": best_cpu(lambda: [Conference.from_api(r) for r in records]),  # encodes
        "parse_pages": best_cpu(lambda: [parse(page) for page in pages]),  # a changed page's cost
        "vanished_and_diff": best_cpu(
            lambda: (vanished(state, current), diff("main", state, current, {}, now=now))
        ),
        "encode_full_state": best_cpu(
            lambda: commit_args(0, diff("main", SourceState(), current, {}, now=now), ["h"], None)
        ),
    }


async def poll_cpu(url: str, redis_url: str) -> dict[str, float]:
    """CPU seconds of whole idle polls, through the real client, diff and store."""
    async with aiohttp.ClientSession() as session:
        store = RedisStore.from_url(Secret(redis_url), consumer="bench")
        await store.open_outbox(["hook"], ["main"])
        metrics = Metrics(["main"], ["hook"])
        source = source_config(url, poll_timeout=300.0, request_timeout=60.0, rate_limit=1e4)
        client = CanvasClient(session, source, Lane(1e4), metrics)
        poller = Poller(source, client, store, metrics, interval=30)
        first = time.process_time()
        assert await poller.poll_once()
        baseline = time.process_time() - first
        timings = []
        parsed = []  # every page parsed again, as when each one changed (not the records)
        for _ in range(REPEAT):
            started = time.process_time()
            assert await poller.poll_once()
            timings.append(time.process_time() - started)
            client.pages_changed()
            started = time.process_time()
            assert await poller.poll_once()
            parsed.append(time.process_time() - started)
        await store.close()
    return {
        "idle_poll": min(timings),
        "idle_poll_pages_parsed": min(parsed),
        "first_poll": baseline,
    }


async def measure(n: int, redis_url: str) -> dict[str, Any]:
    with simulator_process(n) as url:
        pages = await pages_of(url)
        by_step = steps(pages)
        whole = await poll_cpu(url, redis_url)
    loads = by_step["json_loads"]
    return {
        "n": n,
        "pages": len(pages),
        "page_bytes": sum(map(len, pages)),
        "cpu_s": {**by_step, **whole},
        "ratio": whole["idle_poll"] / loads,
        "ratio_pages_parsed": whole["idle_poll_pages_parsed"] / loads,
        "ratio_in_process": (by_step["parse_pages"] + by_step["vanished_and_diff"]) / loads,
    }


def rows(results: list[dict[str, Any]]) -> list[Row]:
    out = []
    for result in results:
        n, ratio = result["n"], result["ratio"]
        target = n == 10_000
        out.append(
            Row(
                f"processing/idle poll vs json.loads, N={n:,}",
                f"{ratio:.2f}x ({result['ratio_pages_parsed']:.2f}x every page parsed)",
                f"<= {TARGET:g}x" if target else "",
                ratio <= TARGET if target else None,
                ratio,
                result,
            )
        )
    return out
