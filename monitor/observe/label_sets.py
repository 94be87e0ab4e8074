"""The bounded label values of the monitor's metrics, and the label sets created up front.

Label values are a public contract (docs/metrics.md) and never a conference id or title; each
known source's and sink's series are created at start with zeros, so dashboards show zeros
rather than "no data" before the first event (``prime_source``, ``prime_sink``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from monitor.core.errors import PollFailure
from monitor.core.lease_name import LeaseName
from monitor.core.models import EndReason, EventType

if TYPE_CHECKING:
    from monitor.observe.metrics import Metrics

#: Conference types Canvas ships; their live gauges exist from the start.
KNOWN_CONFERENCE_TYPES: Final = (
    "BigBlueButton",
    "AdobeConnect",
    "CiscoWebex",
    "Wimba",
    "LtiConference",
)
KNOWN_CONTEXT_TYPES: Final = ("Course", "Group")
DELIVERY_FAILURES: Final = (
    "timeout",
    "connection",
    "throttled",
    "http_3xx",
    "http_4xx",
    "http_5xx",
    "rejected",
)
LEASE_CHANGES: Final = ("acquired", "lost", "released")
STATE_RESETS: Final = ("from_memory", "rebaselined")
DURATION_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: Conferences last from minutes (a quick check-in) to a day (Canvas's live window).
CONFERENCE_BUCKETS: Final = (
    *(60, 300, 600, 900, 1800, 2700, 3600),  # minutes to an hour
    *(5400, 7200, 10800, 14400, 28800, 86400),  # to Canvas's 24 h live window
)
#: Delivery lag spans a second (a healthy webhook) to days (a receiver down, then retries).
LAG_BUCKETS: Final = (0.5, 1, 2, 5, 10, 15, 30, 60, 300, 1800, 7200, 36000, 86400, 259200)


def prime_source(m: Metrics, source: str) -> None:
    """Every series of a known source, at zero (NaN for the rate limit, unknown yet)."""
    for conference_type in KNOWN_CONFERENCE_TYPES:
        for context_type in KNOWN_CONTEXT_TYPES:
            m.live_labels.setdefault(source, set()).add((conference_type, context_type))
            m.live_conferences.labels(source, conference_type, context_type).set(0)
    for event in EventType:
        m.events.labels(source, event.value)
    for reason in EndReason:
        m.ends.labels(source, reason.value)
    for failure in PollFailure:
        m.poll_failures.labels(source, failure.value)
    m.polls.labels(source)
    m.poll_duration.labels(source)
    m.last_success.labels(source)
    m.invalid_records.labels(source)
    m.canvas_requests.labels(source, "200")
    m.rate_limit_remaining.labels(source).set(math.nan)
    m.leader.labels(source).set(0)
    for change in LEASE_CHANGES:
        m.lease_transitions.labels(LeaseName.source(source).key, change)
    for how in STATE_RESETS:
        m.state_resets.labels(source, how)
    m.commits_refused.labels(source)


def prime_sink(m: Metrics, sink: str) -> None:
    """Every series of a configured sink, at zero (up: 1, until a delivery fails)."""
    m.deliveries.labels(sink)
    for reason in DELIVERY_FAILURES:
        m.delivery_failures.labels(sink, reason)
    m.delivery_duration.labels(sink)
    m.delivery_lag.labels(sink)
    m.sink_up.labels(sink).set(1)
    m.sink_disabled.labels(sink).set(0)
    m.outbox_pending.labels(sink).set(0)
    m.dead_letters.labels(sink).set(0)
    m.sink_leader.labels(sink).set(0)
    for change in LEASE_CHANGES:
        m.lease_transitions.labels(LeaseName.sink(sink).key, change)
