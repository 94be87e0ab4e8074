"""The floor of any Python poller: a bare aiohttp loop doing the monitor's GETs, nothing else.

    python -m bench.bare_poller URL INTERVAL < tokens

reads one token per line from standard input until an empty line, then, every ``INTERVAL``
seconds on an absolute schedule, GETs each token's live list (``/api/v1/conferences?
state=live&per_page=100``, the page the monitor polls) concurrently and reads the bodies, and
follows ``Link: rel="next"`` as the monitor does. It prints ``ready`` once a first round is
done, and, when its standard input closes, the requests it sent and the rounds it made, then
exits. Its CPU is read from ``/proc`` by the bench (``bench.scenarios.poll_cpu``), as the
service's is.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp


async def _get_all(session: aiohttp.ClientSession, url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    sent = 0
    next_url: str | None = url
    while next_url is not None:
        async with session.get(next_url, headers=headers, allow_redirects=False) as response:
            await response.read()
            sent += 1
            link = response.links.get("next")
            next_url = None if link is None else str(link["url"])
    return sent


async def _closed() -> None:
    await asyncio.to_thread(sys.stdin.read)


async def main(base: str, interval: float) -> None:
    tokens = []
    while line := sys.stdin.readline().strip():
        tokens.append(line)
    url = f"{base}/api/v1/conferences?state=live&per_page=100"
    sent = rounds = 0
    closed = asyncio.create_task(_closed())
    async with aiohttp.ClientSession() as session:
        tick = time.monotonic()
        first = True
        while not closed.done():
            counts = await asyncio.gather(*(_get_all(session, url, t) for t in tokens))
            sent += sum(counts)
            rounds += 1
            if first:
                print("ready", flush=True)
                first = False
            tick += interval
            while tick < time.monotonic():  # an overrun tick is skipped, as the monitor does
                tick += interval
            await asyncio.wait([closed], timeout=tick - time.monotonic())
    print(sent, rounds, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
