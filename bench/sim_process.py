"""A simulator in a process of its own, so that its work is never counted as the monitor's.

    python -m bench.sim_process --live N [--latency S]

prints its URL on the first line, then serves until its standard input closes. ``/_sim/`` (the
admin API) changes its world from the bench process.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bench.world import IndexedWorld, live_for_one_user
from monitor.simulator import Simulator


async def serve(live: int, latency: float) -> None:
    world = IndexedWorld()
    live_for_one_user(world, live)
    async with Simulator(world) as sim:
        sim.throttle.enabled = False
        sim.latency = latency
        print(sim.url, flush=True)
        await asyncio.to_thread(sys.stdin.read)


@contextmanager
def simulator_process(live: int, latency: float = 0.0) -> Iterator[str]:
    """Start one; yield its URL."""
    process = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench.sim_process", "--live", str(live), "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        if not url.startswith("http"):
            raise RuntimeError("the simulator process did not start")
        yield url
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--live", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve(args.live, args.latency))
