"""Canvas's request throttle: a leaky bucket per access token.

Mirrors ``app/middleware/request_throttle.rb``: the bucket leaks ``outflow`` units a second; a
request is refused while the level is at or above the high-water mark; an admitted request
reserves ``up_front_cost`` while it runs (so parallel requests on one token drain it fast), then
is charged its real cost instead. The level never passes ``maximum``, which bounds how long a
throttled client waits. Settings are plain attributes so tests and the admin API can change them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class ThrottleMode(StrEnum):
    """How a throttled request is answered: old Canvas (403) or hosted Canvas since 2025 (429)."""

    FORBIDDEN = "403"
    TOO_MANY_REQUESTS = "429"


FORBIDDEN_BODY: Final = "403 Forbidden (Rate Limit Exceeded)"
TOO_MANY_BODY: Final = "429 Too Many Requests (Rate Limit Exceeded)"
_NUMBERS: Final = ("high_water_mark", "maximum", "outflow", "up_front_cost", "request_cost")


@dataclass(slots=True)
class _Bucket:
    level: float
    stamp: float


class Throttle:
    """Throttle settings plus one bucket per key (the token, or the client address)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self.reset()

    def reset(self) -> None:
        """Canvas's defaults, empty buckets."""
        self.enabled = True
        self._mode = ThrottleMode.FORBIDDEN
        #: Send ``Retry-After`` when throttled: whole seconds until the bucket drops below the mark.
        self.retry_after = False
        self.high_water_mark = 600.0
        self.maximum = 800.0
        self.outflow = 10.0
        self.up_front_cost = 50.0
        #: What one request really costs (Canvas: its CPU + DB seconds).
        self.request_cost = 1.0
        self._buckets.clear()

    @property
    def mode(self) -> ThrottleMode:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        self._mode = ThrottleMode(value)

    def settings(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "mode": str(self.mode),
            "retry_after": self.retry_after,
            **{name: getattr(self, name) for name in _NUMBERS},
        }

    def configure(self, changes: Mapping[str, Any]) -> None:
        """Apply several settings at once, all or nothing; ``ValueError`` names a bad field."""
        unknown = set(changes) - {"enabled", "mode", "retry_after", "reset_buckets", *_NUMBERS}
        if unknown:
            raise ValueError(f"unknown throttle settings: {sorted(unknown)}")
        for flag in ("enabled", "retry_after", "reset_buckets"):
            if flag in changes and not isinstance(changes[flag], bool):
                raise ValueError(f"{flag}: must be true or false")
        mode = ThrottleMode(str(changes.get("mode", self.mode)))
        numbers = {}
        for name in _NUMBERS:
            if name in changes:
                value = changes[name]
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{name}: must be a non-negative number")
                numbers[name] = float(value)
        for name, number in numbers.items():
            setattr(self, name, number)
        self.mode = mode
        self.enabled = changes.get("enabled", self.enabled)
        self.retry_after = changes.get("retry_after", self.retry_after)
        if changes.get("reset_buckets"):
            self._buckets.clear()

    def level(self, key: str) -> float:
        """The bucket's level after leaking to now."""
        bucket = self._leak(key)
        return bucket.level

    def remaining(self, key: str) -> float:
        """``X-Rate-Limit-Remaining``: the high-water mark minus the level (may go negative)."""
        return self.high_water_mark - self.level(key)

    def admit(self, key: str) -> bool:
        """Reserve the up-front cost and say yes, or say no (nothing charged) when full."""
        bucket = self._leak(key)
        if self.enabled and bucket.level >= self.high_water_mark:
            return False
        bucket.level = min(self.maximum, bucket.level + self.up_front_cost)
        return True

    def settle(self, key: str) -> float:
        """Swap the up-front reservation for the real cost; returns that cost."""
        bucket = self._leak(key)
        charged = bucket.level - self.up_front_cost + self.request_cost
        bucket.level = min(self.maximum, max(0.0, charged))
        return self.request_cost

    def seconds_until_admitted(self, key: str) -> int:
        excess = self.level(key) - self.high_water_mark
        if excess < 0 or self.outflow <= 0:
            return 1
        return max(1, math.ceil(excess / self.outflow))

    def _leak(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(0.0, now)
        bucket.level = max(0.0, bucket.level - self.outflow * (now - bucket.stamp))
        bucket.stamp = now
        return bucket
