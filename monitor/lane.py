"""One token, one lane (invariant 7): Canvas requests on a token go out one at a time.

Canvas throttles per access token with a leaky bucket, and parallel requests drain it fast. A
``Lane`` serialises a token's requests, spaces them to at most ``rate_limit`` per second
(asyncio-throttle), and slows down when Canvas says so: it pauses after a throttled answer
(honouring ``Retry-After``) and when ``X-Rate-Limit-Remaining`` runs low, so that other
integrations sharing the token keep working too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from asyncio_throttle import Throttler

from monitor.errors import CanvasError, PollFailure

#: Below this many units left in the bucket, pause long enough for it to drain back up.
LOW_WATER: Final = 100.0
#: Canvas's default outflow: units per second the bucket drains.
OUTFLOW: Final = 10.0
#: The longest pause a low remaining figure alone may cause.
MAX_SOFT_PAUSE: Final = 30.0


class Deadline:
    """The time budget of one poll, on the event loop's clock."""

    def __init__(self, seconds: float) -> None:
        self._end = asyncio.get_running_loop().time() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - asyncio.get_running_loop().time())


class Lane:
    def __init__(self, rate_limit: float) -> None:
        self._lock = asyncio.Lock()
        self._throttler = Throttler(rate_limit=1, period=1.0 / rate_limit, retry_interval=0.005)
        self._resume_at = 0.0

    @asynccontextmanager
    async def turn(self, deadline: Deadline) -> AsyncIterator[None]:
        """Wait for this lane's turn; raise ``throttled`` if it would outlast the deadline."""
        async with self._lock:
            wait = self._resume_at - asyncio.get_running_loop().time()
            if wait > deadline.remaining():
                raise CanvasError(
                    PollFailure.THROTTLED,
                    f"Canvas asked to wait {wait:.1f}s, beyond this poll's time budget",
                )
            if wait > 0:
                await asyncio.sleep(wait)
            await self._throttler.acquire()
            yield

    def pause(self, seconds: float) -> None:
        """Send nothing on this token for ``seconds`` (extends, never shortens, a pause)."""
        resume = asyncio.get_running_loop().time() + seconds
        self._resume_at = max(self._resume_at, resume)

    def observe_remaining(self, remaining: float) -> None:
        """React to ``X-Rate-Limit-Remaining``: the lower it is, the longer the pause."""
        if remaining < LOW_WATER:
            self.pause(min(MAX_SOFT_PAUSE, (LOW_WATER - remaining) / OUTFLOW))
