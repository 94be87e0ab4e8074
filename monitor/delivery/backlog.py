"""The outbox gauges, ``outbox_pending`` and ``dead_letters``, at little cost to the store.

Measuring a sink's backlog in Redis takes a command per stream the sink reads, that is one per
source (``XINFO GROUPS``): at 1,000 sources, every 5 s, that alone was 6 commands per poll. So
the store is asked only when nothing cheaper knows:

- The replica delivering for a sink knows the backlog itself while its reads find everything
  there is (``SinkRunner.caught_up``): it is then what is in flight there, read and not yet
  acknowledged. Only when it falls behind (a read came back full, or it stopped reading for
  want of room) is the store asked, every ``Timings.measure_every``.
- A sink that another live replica delivers for shows 0 here: that replica reports it, and
  dashboards and alerts take the maximum over replicas. A sink nobody here delivers for, and
  nobody else is assigned, is measured in the store every ``measure_every``, so a backlog that
  nobody drains still shows.

What this misses, briefly: entries another consumer read after the sink's lease moved (adopted
within seconds, ``supervise``). Dead letters are one command per sink (``HLEN``): counted every
``measure_every``, and at once when the runner here has dead-lettered something since.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from monitor.core.timings import PRODUCTION, Timings
from monitor.observe.metrics import Metrics
from monitor.store.roles import Deliveries


class Runner(Protocol):
    """What the gauges read of a ``SinkRunner``."""

    @property
    def name(self) -> str: ...

    @property
    def caught_up(self) -> bool: ...

    @property
    def buried(self) -> int: ...

    @property
    def inflight(self) -> int: ...


async def update_backlogs(sinks: Sequence[str], store: Deliveries, metrics: Metrics) -> None:
    """Measure ``outbox_pending`` and ``dead_letters`` of every sink in the store."""
    for sink in sinks:
        metrics.outbox_pending.labels(sink).set(await store.backlog(sink))
        metrics.dead_letters.labels(sink).set(await store.count_dead(sink))


class OutboxGauges:
    def __init__(
        self,
        sinks: Sequence[str],
        store: Deliveries,
        metrics: Metrics,
        elsewhere: Callable[[str], bool] = lambda sink: False,
        timings: Timings = PRODUCTION,
    ) -> None:
        self._sinks = list(sinks)
        # The backlog alert waits 15 minutes; a dashboard of a sink that is behind moves once a
        # minute.
        self._every = timings.measure_every
        self._store = store
        self._metrics = metrics
        self._elsewhere = elsewhere  # is this sink another live replica's to deliver?
        self._measured: dict[str, float] = {}  # sink -> time.monotonic() of its last backlog
        self._counted: dict[str, float] = {}  # sink -> ... of its last dead-letter count
        self._buried: dict[str, tuple[int, int]] = {}  # sink -> (id(runner), runner.buried)

    async def refresh(self, runners: Iterable[Runner]) -> None:
        here = {runner.name: runner for runner in runners}
        for sink in self._sinks:
            runner = here.get(sink)
            await self._pending(sink, runner)
            await self._dead(sink, runner)

    async def _pending(self, sink: str, runner: Runner | None) -> None:
        gauge = self._metrics.outbox_pending.labels(sink)
        if runner is not None and runner.caught_up:
            gauge.set(runner.inflight)
        elif runner is None and self._elsewhere(sink):
            gauge.set(0)
        elif self._due(self._measured, sink):
            gauge.set(await self._store.backlog(sink))
            self._measured[sink] = time.monotonic()

    async def _dead(self, sink: str, runner: Runner | None) -> None:
        buried = (id(runner), runner.buried) if runner is not None else None
        if buried is not None and buried[1] and self._buried.get(sink) != buried:
            self._counted.pop(sink, None)  # the runner dead-lettered something: count now
        if buried is not None:
            self._buried[sink] = buried
        if self._due(self._counted, sink):
            self._metrics.dead_letters.labels(sink).set(await self._store.count_dead(sink))
            self._counted[sink] = time.monotonic()

    def _due(self, last: dict[str, float], sink: str) -> bool:
        """Is a measurement of ``sink`` due? (One that failed is due again at the next round.)"""
        return sink not in last or time.monotonic() - last[sink] >= self._every
