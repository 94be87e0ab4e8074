"""A sink's pace: at most ``rate`` messages a second, and none while the receiver asked us to
wait (``Retry-After`` on a 429), checked after the rate's turn since a 429 may come meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from asyncio_throttle import Throttler

from monitor.core.aio import first
from monitor.delivery.retry import RETRY_AFTER_CAP

#: Pace a little under a receiver's limit: a send's start is timed, its arrival is what counts.
HEADROOM: Final = 1.05


class Pacer:
    def __init__(self, rate: float | None, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._throttle = (
            Throttler(rate_limit=1, period=HEADROOM / rate, retry_interval=0.01) if rate else None
        )
        self._hold_until = 0.0

    def hold(self, seconds: float) -> None:
        """The receiver asked for a pause: nothing goes out for ``seconds`` (never shortened;
        at most ``RETRY_AFTER_CAP``, so one answer cannot stop a sink for days)."""
        self._hold_until = max(self._hold_until, self._clock() + min(seconds, RETRY_AFTER_CAP))

    async def turn(self, stopping: asyncio.Event) -> None:
        """Wait until a message may go out (or ``stopping`` is set)."""
        if self._throttle is not None:
            await self._throttle.acquire()
        while (wait := self._hold_until - self._clock()) > 0 and not stopping.is_set():
            await first(asyncio.sleep(wait), stopping.wait())
