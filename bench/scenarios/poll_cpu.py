"""CPU of polling: the real service polling 100 sources every second, against a bare aiohttp
loop doing the same GETs (``bench.bare_poller``: the same pages, as many per second, the same
simulator) at the same time, each in a process of its own and read from ``/proc`` over the
same window. What the
monitor adds to the HTTP requests it cannot avoid (the lane, the page memory, the diff, the
metrics, its Redis loops) must stay within 1.3x of them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench.service import ROOT, cpu_seconds
from bench.table import Row

TARGET = 1.3


class BareLoop:
    """``bench.bare_poller`` running: its CPU so far, and at the end its request rate."""

    def __init__(self, process: asyncio.subprocess.Process, interval: float) -> None:
        self.process = process
        self.interval = interval

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    async def finish(self) -> float:
        """Stop it; the GETs it sent per second, on average over its rounds."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.close()
        sent, rounds = map(int, (await self.process.stdout.readline()).split())
        await self.process.wait()
        return sent / max(rounds, 1) / self.interval


@asynccontextmanager
async def bare_loop(url: str, tokens: list[str], interval: float) -> AsyncIterator[BareLoop]:
    """``bench.bare_poller`` against ``url`` with ``tokens``, once its first round is done.

    The bench runs it beside the service and reads both CPUs over the same window: measured
    one after the other, the machine's drift (a shared host) moved the ratio by +-15 %."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.bare_poller", url, str(interval)),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        process.stdin.write("".join(f"{token}\n" for token in tokens).encode() + b"\n")
        await process.stdin.drain()
        if (await process.stdout.readline()).strip() != b"ready":
            raise RuntimeError("the bare poller did not start")
        yield BareLoop(process, interval)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


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
