"""When to try a failed delivery again: the sink's retry schedule, with jitter.

``schedule[n]`` is the wait before attempt ``n + 1`` (the first entry, usually 0, is the first
attempt). Jitter of ±20 % spreads retries of events that failed together, as Svix does. A
receiver's ``Retry-After`` is honoured when it asks for longer, up to ``RETRY_AFTER_CAP``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

JITTER: Final = 0.2
RETRY_AFTER_CAP: Final = 3600.0


def next_due(
    schedule: Sequence[float],
    attempts: int,
    now: float,
    rng: random.Random,
    retry_after: float | None = None,
) -> float | None:
    """The time of the next attempt after ``attempts`` failed ones; None when they ran out."""
    if attempts >= len(schedule):
        return None
    wait = schedule[attempts] * rng.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        wait = max(wait, min(retry_after, RETRY_AFTER_CAP))
    return now + wait
