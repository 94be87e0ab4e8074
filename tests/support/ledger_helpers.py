"""Helpers for the delivery-engine tests (retries, dead letters, disabling, pacing, filters):
events with chosen attributes, store readers. Their receiver answers per event id
(``Receiver.script``)."""

from __future__ import annotations

import time
from datetime import datetime

from monitor.core.diff import Outcome, diff
from monitor.core.models import SourceState
from monitor.store.roles import Store
from monitor.store.values import OutboxEntry
from tests.support.factories import NOW, conference


def started_with(
    source: str, *specs: tuple[int, dict[str, object]], now: datetime = NOW
) -> Outcome:
    """A poll (after the baseline) that sees conferences built with those attributes live."""
    live = {cid: conference(cid, **attrs) for cid, attrs in specs}
    return diff(source, SourceState(baselined=True), live, {}, now=now)


async def read_all(store: Store, sink: str, wait: float = 0.05) -> list[OutboxEntry]:
    """Every entry ``sink`` can read now (until a read comes back empty)."""
    found: list[OutboxEntry] = []
    while batch := await store.read(sink, 100, wait):
        found.extend(batch)
    return found


def same_event(a: OutboxEntry, b: OutboxEntry) -> bool:
    """The same event and bytes (store ids and streams aside)."""
    return (a.source, a.event_id, a.type, a.key, a.body) == (
        b.source,
        b.event_id,
        b.type,
        b.key,
        b.body,
    )


def monotonic_of(unix: float) -> float:
    """A unix time on this process's monotonic clock (to compare with a receiver's ``at``)."""
    return time.monotonic() + (unix - time.time())
