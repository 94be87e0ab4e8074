"""pyinstrument profiles of the paths that miss their targets, as text (phase 2 of issue 6).

    python -m bench.profile poll [N]          idle polls of N (10,000) live conferences
    python -m bench.profile delivery [EVENTS] EVENTS (3,000) events through the SinkRunner

The service as a whole (the many-sources scenario) is profiled from outside:
``python -m pyinstrument -m monitor run --config ...``, stopped with SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from pyinstrument import Profiler  # type: ignore[import-not-found,unused-ignore]

from bench.scenarios import delivery, processing
from bench.sim_process import simulator_process
from tests.support.receiver import Receiver
from tests.support.redis_server import start_redis


async def poll(redis_url: str, n: int, profiler: Profiler) -> None:
    with simulator_process(n) as url:
        profiler.start()
        await processing.poll_cpu(url, redis_url)
        profiler.stop()


async def deliver(redis_url: str, events: int, profiler: Profiler) -> None:
    async with Receiver() as hook:
        profiler.start()
        await delivery.ours(redis_url, hook, events, 8)
        profiler.stop()


def main(what: str, size: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_redis(Path(tmp))
        profiler = Profiler(async_mode="enabled")
        try:
            if what == "poll":
                asyncio.run(poll(server.url, size or 10_000, profiler))
            else:
                asyncio.run(deliver(server.url, size or 3_000, profiler))
        finally:
            server.process.terminate()
            server.process.wait()
    print(profiler.output_text(unicode=True, show_all=False))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
