"""One token, one lane (invariant 7): Canvas requests on a token go out one at a time.

Canvas throttles per access token with a leaky bucket, and parallel requests drain it fast. A
``Lane`` serialises a token's requests, spaces them to at most ``rate_limit`` per second
(asyncio-throttle), and slows down when Canvas says so: it holds after a throttled answer
(honouring ``Retry-After``; a poll that cannot wait that long fails as ``throttled``), and eases
off when ``X-Rate-Limit-Remaining`` runs low (a courtesy pause that never costs a poll more than
half its remaining budget), so that other integrations sharing the token keep working too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Final

from asyncio_throttle import Throttler

from monitor.canvas.usage import Usage
from monitor.config.settings import SourceConfig
from monitor.core.errors import CanvasError, PollFailure
from monitor.core.timings import PRODUCTION, Timings

#: Below this many units left in the bucket, pause long enough for it to drain back up.
LOW_WATER: Final = 100.0
#: The longest pause a low remaining figure alone may cause.
MAX_SOFT_PAUSE: Final = 30.0


def courtesy_pause(remaining: float, outflow: float = PRODUCTION.canvas_outflow) -> float:
    """How long to ease off after an answer with ``X-Rate-Limit-Remaining: remaining``.

    Long enough for Canvas's bucket to drain back to ``LOW_WATER`` at ``outflow`` units per
    second (``Timings.canvas_outflow``), at most ``MAX_SOFT_PAUSE``.
    """
    if remaining >= LOW_WATER:
        return 0.0
    return min(MAX_SOFT_PAUSE, (LOW_WATER - remaining) / outflow)


class Deadline:
    """The time budget of one poll, on the event loop's clock."""

    def __init__(self, seconds: float) -> None:
        self._end = asyncio.get_running_loop().time() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - asyncio.get_running_loop().time())


class Lane:
    def __init__(self, rate_limit: float, *, timings: Timings = PRODUCTION) -> None:
        self._outflow = timings.canvas_outflow
        self._lock = asyncio.Lock()
        self._throttler = Throttler(rate_limit=1, period=1.0 / rate_limit, retry_interval=0.005)
        self._hold_until = 0.0  # Canvas said wait: nothing goes out before this
        self._ease_until = 0.0  # our own courtesy pause: waited for as long as the budget allows
        self.usage = Usage()  # requests per second lately (the console's "budget used")

    @asynccontextmanager
    async def turn(self, deadline: Deadline) -> AsyncIterator[None]:
        """Wait for this lane's turn; raise ``throttled`` if Canvas's wait outlasts the deadline."""
        async with self._lock:
            now = asyncio.get_running_loop().time()
            hold, ease = self._hold_until - now, self._ease_until - now
            if hold > deadline.remaining():
                raise CanvasError(
                    PollFailure.THROTTLED,
                    f"Canvas asked to wait {hold:.1f}s, beyond this poll's time budget",
                )
            # Courtesy never takes more than half of what is left: the poll should still happen.
            wait = max(hold, min(ease, deadline.remaining() / 2))
            if wait > 0:
                await asyncio.sleep(wait)
            await self._throttler.acquire()
            self.usage.count()
            yield

    def pause(self, seconds: float) -> None:
        """Canvas throttled us: send nothing on this token for ``seconds`` (never shortened)."""
        resume = asyncio.get_running_loop().time() + seconds
        self._hold_until = max(self._hold_until, resume)

    def observe_remaining(self, remaining: float) -> None:
        """React to ``X-Rate-Limit-Remaining``: the lower it is, the longer the courtesy pause."""
        if ease := courtesy_pause(remaining, self._outflow):
            resume = asyncio.get_running_loop().time() + ease
            self._ease_until = max(self._ease_until, resume)


def token_lanes(sources: Sequence[SourceConfig], timings: Timings = PRODUCTION) -> dict[str, Lane]:
    """Each source's lane: one per Canvas token (invariant 7), whichever sources share it, as
    slow as the slowest of them."""
    tokens = {s.name: (s.base_url.lower(), s.token.reveal()) for s in sources}
    rates: dict[tuple[str, str], float] = {}
    for source in sources:
        token = tokens[source.name]
        rates[token] = min(rates.get(token, source.rate_limit), source.rate_limit)
    lanes = {token: Lane(rate, timings=timings) for token, rate in rates.items()}
    return {name: lanes[token] for name, token in tokens.items()}
