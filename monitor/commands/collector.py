"""The garbage collector set for a service that runs for months, not for a script.

By the time ``run`` starts its loop it has imported everything and read its configuration:
~75,000 objects (modules, classes, functions, settings) that live as long as the process and
can never be garbage. With CPython's defaults every full collection walked all of them again
(~50 ms each), and the youngest generation was collected every 700 allocations, about once a
poll (aiohttp's request and response, the page, the diff). Measured with ``gc.callbacks`` in
the bench "CPU of polling" (100 sources every second): the collector took ~7 ms of CPU a
second, a quarter of the service's CPU; ``docs/performance.md`` has the figures after. So,
once, before the loop starts:

- what exists then is frozen (``gc.freeze``): later collections never walk it again;
- the youngest generation is collected every ``YOUNG`` allocations. A poll's garbage is freed
  by reference counting as it goes; the few cycles it leaves wait a little longer.

Only the ``run`` command does this. The tests run the app in their own process, where a frozen
heap would also hide leaked objects from the collector's warnings.
"""

from __future__ import annotations

import gc
from typing import Final

#: Allocations between collections of the youngest generation (CPython's default: 700).
YOUNG: Final = 10_000


def settle_for_a_long_run() -> None:
    """Collect once, freeze what survives, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
