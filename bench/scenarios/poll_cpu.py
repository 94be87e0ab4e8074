"""CPU of polling: the real service polling 100 sources every second, against a bare aiohttp
loop doing the same GETs (``bench.bare_poller``: the same pages, as many per second, the same
simulator) in the same run, each in a process of its own and read from ``/proc``. What the
monitor adds to the HTTP requests it cannot avoid (the lane, the page memory, the diff, the
metrics, its Redis loops) must stay within 1.3x of them.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from bench.service import ROOT, cpu_seconds
from bench.table import Row

TARGET = 1.3


async def bare(url: str, tokens: list[str], interval: float, intervals: int) -> dict[str, Any]:
    """Run ``bench.bare_poller`` against ``url`` for ``intervals`` intervals after one of
    warm-up; its CPU share and requests per second."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.bare_poller", url, str(interval)),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write("".join(f"{token}\n" for token in tokens).encode() + b"\n")
    await process.stdin.drain()
    if (await process.stdout.readline()).strip() != b"ready":
        raise RuntimeError("the bare poller did not start")
    await asyncio.sleep(interval)
    cpu, started = cpu_seconds(process.pid), time.monotonic()
    await asyncio.sleep(interval * intervals)
    cpu, elapsed = cpu_seconds(process.pid) - cpu, time.monotonic() - started
    process.stdin.close()
    sent, rounds = map(int, (await process.stdout.readline()).split())
    await process.wait()
    return {
        "cpu_s": cpu,
        "cpu_share": cpu / elapsed,
        "elapsed_s": elapsed,
        "requests_per_s": sent / max(rounds, 1) / interval,
    }


def rows(result: dict[str, Any]) -> list[Row]:
    bare_result = result["bare"]
    ratio = result["cpu_share"] / max(bare_result["cpu_share"], 1e-9)
    where = f"{result['sources']:,} sources, {result['interval_s']:g} s"
    return [
        Row(
            f"CPU of polling ({where}) vs a bare aiohttp GET loop",
            f"{ratio:.2f}x ({result['cpu_share']:.1%} vs {bare_result['cpu_share']:.1%} of a "
            f"core; {result['canvas_requests_per_s']:.0f} vs "
            f"{bare_result['requests_per_s']:.0f} GET/s)",
            f"<= {TARGET:g}x",
            ratio <= TARGET,
            ratio,
            {"bare": bare_result},
        )
    ]
