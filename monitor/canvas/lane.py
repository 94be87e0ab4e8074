"""One token, one lane (invariant 7): Canvas requests on a token go out one at a time.

Canvas throttles per access token with a leaky bucket, and parallel requests drain it fast. A
``Lane`` serialises a token's requests, spaces them to at most ``rate_limit`` per second,
and slows down when Canvas says so: it holds after a throttled answer (honouring
``Retry-After``; a poll that cannot wait that long fails as ``throttled``), and eases off when
``X-Rate-Limit-Remaining`` runs low (a courtesy pause that never costs a poll more than half
its remaining budget), so that other integrations sharing the token keep working too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Final

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

    __slots__ = ("_end", "_time")

    def __init__(self, seconds: float) -> None:
        self._time = asyncio.get_running_loop().time
        self._end = self._time() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._time())


class Lane:
    def __init__(self, rate_limit: float, *, timings: Timings = PRODUCTION) -> None:
        self._outflow = timings.canvas_outflow
        self._lock = asyncio.Lock()
        self._spacing = 1.0 / rate_limit  # at most rate_limit requests a second
        self._next_free = 0.0  # the last request went out one spacing before this
        self._hold_until = 0.0  # Canvas said wait: nothing goes out before this
        self._ease_until = 0.0  # our own courtesy pause: waited for as long as the budget allows
        self.usage = Usage()  # requests per second lately (the console's "budget used")

    def turn(self, deadline: Deadline) -> Turn:
        """Wait for this lane's turn (``async with``); raise ``throttled`` if Canvas's wait
        outlasts the deadline."""
        return Turn(self, deadline)

    async def _wait_turn(self, deadline: Deadline) -> None:
        """Called holding the lock: wait until a request may go out, and count it."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        hold, ease, left = self._hold_until - now, self._ease_until - now, deadline.remaining()
        if hold > left:
            raise CanvasError(
                PollFailure.THROTTLED,
                f"Canvas asked to wait {hold:.1f}s, beyond this poll's time budget",
            )
        # Courtesy never takes more than half of what is left: the poll should still happen.
        wait = max(hold, min(ease, left / 2), self._next_free - now)
        if wait > 0:
            await asyncio.sleep(wait)
            now = loop.time()
        self._next_free = now + self._spacing
        self.usage.count()

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


class Turn:
    """One request's turn on a lane. A class rather than ``asynccontextmanager``: every Canvas
    request takes one, and a generator-based one cost ~5 us of the ~50 the monitor adds to a
    request (bench: CPU of polling, 100 sources every second)."""

    __slots__ = ("_deadline", "_lane")

    def __init__(self, lane: Lane, deadline: Deadline) -> None:
        self._lane = lane
        self._deadline = deadline

    async def __aenter__(self) -> None:
        await self._lane._lock.acquire()
        try:
            await self._lane._wait_turn(self._deadline)
        except BaseException:
            self._lane._lock.release()
            raise

    async def __aexit__(self, *_: object) -> None:
        self._lane._lock.release()
