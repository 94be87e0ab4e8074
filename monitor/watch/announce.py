"""What the poller says of each committed event: its metrics and its log line."""

from __future__ import annotations

import structlog

from monitor.core.models import EndReason, Event, EventType, parse_time
from monitor.observe.metrics import Metrics

log = structlog.get_logger("monitor.watch.poller")


def announce(metrics: Metrics, event: Event, *, quiet: bool) -> None:
    """Count ``event`` and log it (at debug when a console sink already prints each one)."""
    source = event.source
    metrics.events.labels(source, event.type.value).inc()
    if event.type is EventType.ENDED and event.reason is not None:
        metrics.ends.labels(source, event.reason.value).inc()
        ran = ran_for(event)
        if ran is not None:
            duration = metrics.conference_duration
            duration.labels(source, event.conference.conference_type).observe(ran)
    (log.debug if quiet else log.info)(
        event.type.value,
        source=source,
        conference_id=event.conference.id,
        title=event.conference.title,
        event_id=event.id,
        restart=event.restart,
        reason=None if event.reason is None else event.reason.value,
    )


def ran_for(event: Event) -> float | None:
    """Seconds a conference ran, when Canvas confirmed its end (``reason: ended``)."""
    if event.reason is not EndReason.ENDED:
        return None
    started, ended = parse_time(event.started_at), parse_time(event.ended_at)
    if started is None or ended is None or ended < started:
        return None
    return (ended - started).total_seconds()
