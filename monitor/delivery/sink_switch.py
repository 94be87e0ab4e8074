"""Whether a sink may send: off once its endpoint is gone, until someone fixes it.

A disabled sink is recorded in the store with a fingerprint of its URL, so it stays off across
restarts and replicas, and comes back on by itself when the configuration names a new URL (or
when `dlq replay` enables it). The metrics and the log say so once per change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import structlog

from monitor.core.secret import Secret
from monitor.observe.metrics import Metrics
from monitor.store.roles import Ledger
from monitor.store.values import SinkDisabled

log = structlog.get_logger("monitor.delivery.dispatch")


class SinkSwitch:
    def __init__(
        self,
        sink: str,
        url: Secret,
        store: Ledger,
        metrics: Metrics,
        clock: Callable[[], float],
    ) -> None:
        self._sink = sink
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._fingerprint = hashlib.sha256(url.reveal().encode()).hexdigest()[:16]
        self.disabled: SinkDisabled | None = None

    async def load(self, *, first: bool = False) -> None:
        """Read the sink's state from the store (a changed URL enables it)."""
        stored = await self._store.sink_disabled(self._sink)
        if stored is not None and stored.fingerprint != self._fingerprint:
            await self._store.enable_sink(self._sink)
            log.info("sink_enabled", sink=self._sink, why="its endpoint changed")
            stored = None
        if first or (stored is None) != (self.disabled is None):
            if stored is not None:
                log.warning("sink_disabled_still", sink=self._sink, reason=stored.reason)
            elif self.disabled is not None:
                log.info("sink_enabled", sink=self._sink, why="enabled in the store (dlq replay)")
        self._show(stored)

    async def disable(
        self, reason: str, persist: Callable[[Callable[[], Awaitable[object]]], Awaitable[bool]]
    ) -> bool:
        """Turn the sink off (``persist`` retries the store write); False if it already was."""
        if self.disabled is not None:
            return False
        why = SinkDisabled(reason, self._clock(), self._fingerprint)
        self._show(why)
        log.error(
            "sink_disabled",
            sink=self._sink,
            reason=reason,
            hint="its events are kept in its dead-letter queue; fix the endpoint, then "
            f"`conference-monitor dlq replay --sink {self._sink}`",
        )
        await persist(lambda: self._store.disable_sink(self._sink, why))
        return True

    def _show(self, state: SinkDisabled | None) -> None:
        self.disabled = state
        self._metrics.sink_disabled.labels(self._sink).set(0 if state is None else 1)
        self._metrics.sink_up.labels(self._sink).set(1 if state is None else 0)
