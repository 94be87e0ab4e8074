"""What a person does with a sink's dead letters, the same from the command line
(``conference-monitor dlq``) and over HTTP (``/api/v1/sinks/{sink}/dead-letters``): list them
with the event each one holds, send them back for delivery, or forget them."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from monitor.store.roles import Ledger
from monitor.store.values import DeadLetter


def iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_of(dead: DeadLetter) -> dict[str, Any] | None:
    """The event the dead letter holds (the envelope as it was sent, with its ``id``), or None
    when its body is not one."""
    try:
        event = json.loads(dead.entry.body)
    except ValueError:
        return None
    return {"id": dead.entry.event_id, **event} if isinstance(event, dict) else None


async def replay(ledger: Ledger, sink: str, event_ids: Collection[str] | None = None) -> int:
    """Send the sink's dead letters (all, or those with ``event_ids``) back for delivery;
    returns how many. Replaying says the endpoint is fixed: the sink is enabled first, or a
    running service would bury the replayed events again at once. When none of
    ``event_ids`` is a dead letter of the sink, nothing changes (the sink stays as it is)."""
    if event_ids is not None:
        held = {dead.entry.event_id for dead in await ledger.dead_letters(sink)}
        if not held & set(event_ids):
            return 0
    await ledger.enable_sink(sink)
    return await ledger.replay_dead(sink, event_ids)


async def purge(ledger: Ledger, sink: str, event_ids: Collection[str] | None = None) -> int:
    """Forget the sink's dead letters (all, or those with ``event_ids``) for good; returns
    how many. The console names the ones it shows, so one that arrived since is kept."""
    return await ledger.purge_dead(sink, event_ids)
