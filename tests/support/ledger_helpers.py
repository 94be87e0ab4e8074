"""Helpers for the delivery-engine tests (retries, dead letters, disabling, pacing, filters):
a receiver that answers per event id, events with chosen attributes, store readers."""

from __future__ import annotations

import time
from datetime import datetime

from aiohttp import web

from monitor.core.diff import Outcome, diff
from monitor.core.models import SourceState
from monitor.store.roles import Store
from monitor.store.values import OutboxEntry
from tests.support.factories import NOW, conference
from tests.support.receiver import Received, Receiver


class ScriptedReceiver(Receiver):
    """A receiver whose answer depends on the event: ``script[webhook-id]`` is a list of
    statuses answered to that event's requests in turn (the last one repeats); ``default``
    answers everything else (and every event once its script is used up, if it is empty).
    ``retry_after`` goes with every non-2xx answer."""

    def __init__(self) -> None:
        super().__init__()
        self.script: dict[str, list[int]] = {}
        self.default = 200

    def status_for(self, event_id: str) -> int:
        statuses = self.script.get(event_id)
        if not statuses:
            return self.default
        return statuses.pop(0) if len(statuses) > 1 else statuses[0]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.status_for(request.headers.get("webhook-id", ""))
        failing = not 200 <= status < 300
        headers = {"Retry-After": self.retry_after} if failing and self.retry_after else {}
        async with self._arrived:
            self.requests.append(
                Received(
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                    status,
                    time.monotonic(),
                )
            )
            self._arrived.notify_all()
        return web.Response(status=status, text="ok" if not failing else "no", headers=headers)

    def for_event(self, event_id: str) -> list[tuple[int, float]]:
        """(status, arrival) of every request that carried ``event_id``."""
        return [(r.status, r.at) for r in self.requests if r.event_id == event_id]


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
