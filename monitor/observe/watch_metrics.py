"""The metrics of watching many contexts: how the token's budget is spent, and on what.

Kept apart from ``metrics.py``'s families because they are few (a source that discovers an
institution has five tiers, not 75,000 series), so prometheus_client's own objects serve. Names
are a public contract like the others (docs/metrics.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics import MetricWrapperBase

from monitor.core.errors import PollFailure
from monitor.core.purpose import Purpose

PREFIX: Final = "conference_monitor"
#: The tiers of ``watch.schedule`` by name: where a conference can change, most urgent first.
TIERS: Final = ("live", "pinned", "waiting", "quiet", "dormant")


class WatchMetrics:
    def __init__(self, sources: Sequence[str], registry: CollectorRegistry) -> None:
        r = registry
        self.watched = frozenset(sources)
        self.requests = Counter(
            f"{PREFIX}_canvas_requests_by_purpose",
            "Canvas requests by what they were for (discovery, sweep, live_list, hinted, ...).",
            ["source", "purpose"],
            registry=r,
        )
        self.contexts = Gauge(
            f"{PREFIX}_watched_contexts",
            "Courses and groups watched, by tier: live, pinned, waiting (a conference can go "
            "live), quiet (none can start), dormant (concluded).",
            ["source", "tier"],
            registry=r,
        )
        self.sweep_period = Gauge(
            f"{PREFIX}_sweep_period_seconds",
            "How long the sweep takes to come round to a quiet context again (the last gap).",
            ["source"],
            registry=r,
        )
        self.oldest_read = Gauge(
            f"{PREFIX}_oldest_context_read_age_seconds",
            "Seconds since the least recently read watched context was read.",
            ["source"],
            registry=r,
        )
        self.context_failures = Counter(
            f"{PREFIX}_context_read_failures",
            "Reads of one discovered context that failed (the rest of the step went on).",
            ["source", "reason"],
            registry=r,
        )
        self.discovered = Gauge(
            f"{PREFIX}_discovered_courses",
            "Courses the source's accounts hold, as of the last complete discovery.",
            ["source"],
            registry=r,
        )
        self.last_discovery = Gauge(
            f"{PREFIX}_last_successful_discovery_timestamp_seconds",
            "Unix time of the last complete discovery of the source's accounts.",
            ["source"],
            registry=r,
        )
        self.discovery_failures = Counter(
            f"{PREFIX}_discovery_failures",
            "Discoveries that did not complete (the last directory was kept).",
            ["source"],
            registry=r,
        )
        for source in sources:
            self.prime(source)

    def families(self) -> list[MetricWrapperBase]:
        return [m for m in vars(self).values() if isinstance(m, MetricWrapperBase)]

    def prime(self, source: str) -> None:
        for purpose in Purpose:
            self.requests.labels(source, purpose.value)
        for tier in TIERS:
            self.contexts.labels(source, tier).set(0)
        for failure in PollFailure:
            self.context_failures.labels(source, failure.value)
        self.sweep_period.labels(source)
        self.oldest_read.labels(source)
        self.discovered.labels(source)
        self.last_discovery.labels(source)
        self.discovery_failures.labels(source)

    def set_tiers(self, source: str, counts: Mapping[str, int]) -> None:
        for tier in TIERS:
            self.contexts.labels(source, tier).set(counts.get(tier, 0))
