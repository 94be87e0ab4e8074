"""The loop of a source that watches an institution: a step whenever the schedule has
something due (or discovery brought new courses), discovery beside the steps.

A step that fails (the store, the live list, Canvas down) backs off, from half a second up to
an interval, so a source never spins; a replica that does not hold the source keeps its
heartbeat and forgets what it loaded, to load it afresh should the lease come back.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from monitor.watch.watch import Watch

if TYPE_CHECKING:
    from monitor.watch.poller import Poller


async def run_watch(poller: Poller, watch: Watch, stop: asyncio.Event) -> None:
    async def pause(seconds: float) -> None:
        """Until ``seconds`` pass, the service stops or the directory changes."""
        waits = [asyncio.ensure_future(e.wait()) for e in (stop, watch.discovery.changed)]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def rest(seconds: float) -> None:
        """Until ``seconds`` pass or the service stops (nothing else cuts it short)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    interval, failures = poller.interval, 0
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(watch.discovery.run(stop, lambda: poller.holds))
        while not stop.is_set():
            if not poller.holds:  # another replica watches it: keep the heartbeat
                await poller.beat()
                watch.forget()  # load afresh should the lease come (back) here
                watch.discovery.changed.clear()  # taken in by that load
                await pause(interval)
                continue
            if watch.prepared:
                due = watch.due_in()
                wait = interval if due is None else min(due, interval)
                if wait > 0 and not watch.discovery.changed.is_set():
                    await pause(wait)
                    continue
            ok = await poller.poll_once()  # the first one prepares the watch
            failures = 0 if ok else failures + 1
            if failures:  # back off, never spin
                await rest(min(interval, 0.5 * 2 ** (failures - 1)))
