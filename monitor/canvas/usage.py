"""How much of a token's budget was used lately: requests per second over the last minute,
counted in one-second buckets (60 numbers per token, whatever its rate), for the console."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Final

WINDOW: Final = 60  # seconds


class Usage:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: deque[tuple[int, int]] = deque()  # (second, requests in it)

    def count(self) -> None:
        second = int(self._clock())
        buckets = self._buckets
        if buckets and buckets[-1][0] == second:
            buckets[-1] = (second, buckets[-1][1] + 1)  # most requests: nothing to forget
            return
        buckets.append((second, 1))
        self._forget(second)

    def _forget(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - WINDOW:
            self._buckets.popleft()

    def per_second(self) -> float:
        """Requests per second over the last ``WINDOW`` seconds."""
        self._forget(int(self._clock()))
        return sum(n for _, n in self._buckets) / WINDOW
