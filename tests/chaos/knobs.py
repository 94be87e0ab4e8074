"""How hard the chaos suite pushes, from the environment, so CI can run a shorter version.

``CHAOS_ROUNDS``            SIGKILLs in the kill scenario (default 12)
``CHAOS_TAKEOVERS``         leaders killed in the takeover scenario (default 3)
``CHAOS_REDIS_OUTAGE``      seconds Redis stays down (default 30)
``CHAOS_RECEIVER_OUTAGE``   seconds the receiver fails or refuses (default 20)
``CHAOS_SEED``              the random seed (default: a new one, printed by each test)
"""

from __future__ import annotations

import os
import random


def _number(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


ROUNDS = int(_number("CHAOS_ROUNDS", 12))
TAKEOVERS = int(_number("CHAOS_TAKEOVERS", 3))
REDIS_OUTAGE = _number("CHAOS_REDIS_OUTAGE", 30)
RECEIVER_OUTAGE = _number("CHAOS_RECEIVER_OUTAGE", 20)


def seed() -> int:
    return int(os.environ.get("CHAOS_SEED") or random.randrange(2**32))  # noqa: S311
