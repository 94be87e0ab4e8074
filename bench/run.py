"""Benchmarks of issue 6: every scenario, against the simulator and a redis-server of our own.

    python3 dev.py bench [--quick] [--out PATH] [--only NAME ...] [--plot PNG]

prints a table (scenario, figure, target, result) and writes every figure as JSON (default
``bench/results/latest.json``). Everything runs on loopback; the service itself runs in a
process of its own wherever its CPU, memory or latency is the figure. Figures that depend on the
machine's speed are ratios to a baseline measured in the same run. ``--quick`` shortens the
windows and drops the largest sizes (about three minutes instead of about ten).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import idle_service, polls
from bench.scenarios import (
    canvas_requests,
    canvasapi_baseline,
    coverage,
    delivery,
    detection,
    many_sources,
    poll_cpu,
    processing,
    redis_commands,
    redis_round_trips,
)
from bench.table import Row, render
from monitor.observe.logs import configure
from monitor.simulator import Simulator
from tests.support.redis_server import RedisServer, start_redis

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
SCENARIOS = (
    "polls",
    "processing",
    "redis_commands",
    "many_sources",
    "delivery",
    "detection",
    "canvasapi",
    "coverage",
)


def machine() -> dict[str, Any]:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
    }


class Bench:
    def __init__(self, server: RedisServer, workdir: Path, quick: bool) -> None:
        self.server = server
        self.workdir = workdir
        self.quick = quick
        self.rows: list[Row] = []
        self.figures: dict[str, Any] = {}

    async def polls(self) -> None:
        sizes = (100, 1_000) if self.quick else (100, 1_000, 10_000)
        async with Simulator() as sim:
            sim.throttle.enabled = False
            costs = [c for n in sizes for c in await polls.measure(sim, self.server.port, n)]
        self.figures["polls"] = [c.as_json() for c in costs]
        self.rows += canvas_requests.rows(costs) + redis_round_trips.rows(costs)

    async def processing(self) -> None:
        sizes = (10_000,) if self.quick else (100, 1_000, 10_000)
        results = [await processing.measure(n, self.server.url) for n in sizes]
        self.figures["processing"] = results
        self.rows += processing.rows(results)

    async def redis_commands(self) -> None:
        # 100 sources: 60 whole intervals, as the CPU ratio needs (over 20 it moved by +-10 %).
        results = [
            await idle_service.measure(
                self.server.url,
                self.workdir,
                sources=sources,
                live=20,
                latency=0.0,
                interval=1.0,
                intervals=5 if self.quick else (60 if sources == 100 else 20),
                bare=sources == 100,
            )
            for sources in (1, 100)
        ]
        self.figures["redis_commands"] = results
        self.rows += redis_commands.rows(results) + poll_cpu.rows(results[1])

    async def many_sources(self) -> None:
        result = await idle_service.measure(
            self.server.url,
            self.workdir,
            sources=1_000,
            live=20,
            latency=0.05,
            interval=30.0,
            intervals=1 if self.quick else 3,
            warmup=0 if self.quick else 1,
            baseline_within=45.0 if self.quick else None,
        )
        self.figures["many_sources"] = result
        self.rows += many_sources.rows(result) + redis_commands.rows([result])

    async def delivery(self) -> None:
        result = await delivery.measure(self.server.url, 500 if self.quick else 3_000, 8)
        self.figures["delivery"] = result
        self.rows += delivery.rows(result)

    async def detection(self) -> None:
        result = await detection.measure(self.server.url, self.workdir, 12 if self.quick else 60)
        self.figures["detection"] = result
        self.rows += detection.rows(result)

    async def coverage(self) -> None:
        hour = coverage.model()
        real = await coverage.measure(self.server.url, self.workdir, 60 if self.quick else 300)
        self.figures["coverage"] = {"hour": hour, "service": real}
        self.rows += coverage.rows(hour, real)

    async def canvasapi(self) -> None:
        result = await canvasapi_baseline.measure(self.server.url, 100, 1 if self.quick else 3)
        self.figures["canvasapi"] = result
        self.rows += canvasapi_baseline.rows(result)


async def main(quick: bool, only: list[str]) -> tuple[list[Row], dict[str, Any]]:
    configure("warning", "console", sys.stderr)  # the pollers run here too: no event logs
    with tempfile.TemporaryDirectory() as tmp:
        server = start_redis(Path(tmp))
        try:
            bench = Bench(server, Path(tmp), quick)
            timings = {}
            for name in only or SCENARIOS:
                began = time.monotonic()
                work: Callable[[], Awaitable[None]] = getattr(bench, name)
                await work()
                timings[name] = round(time.monotonic() - began, 1)
                print(f"bench: {name} done in {timings[name]} s", file=sys.stderr, flush=True)
        finally:
            server.process.terminate()
            server.process.wait()
    figures = {
        "machine": machine(),
        "quick": quick,
        "seconds": timings,
        "rows": [row.as_json() for row in bench.rows],
        **bench.figures,
    }
    return bench.rows, figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter windows, smaller sizes")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON goes")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=[], help="these only")
    parser.add_argument("--plot", type=Path, help="also draw the cost curves into this PNG")
    args = parser.parse_args()
    rows, figures = asyncio.run(main(args.quick, args.only))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, default=str))
    print(render(rows))
    print(f"\nfigures written to {args.out}")
    if args.plot:
        from bench.plot import plot

        plot(figures, args.plot)
    sys.exit(0)
