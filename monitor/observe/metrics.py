"""Every metric the monitor exports, in one registry.

Names and labels are a public contract (docs/design.md, docs/metrics.md); label values are bounded
(never a conference id or title). Label sets of known sources and sinks are created up front, so
dashboards show zeros rather than "no data" before the first event (``label_sets``).

The families with a series per source are compact ones (``monitor.compact_metrics``): at a
campus's 1,000 sources they are 75,000 series, which prometheus_client's own objects would hold
in 28 MB and render in 0.4 s of a blocked event loop per scrape.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

from monitor import __version__
from monitor.core.lease_name import LeaseKind, LeaseName
from monitor.core.models import Conference
from monitor.observe.compact_metrics import (
    CompactCounter,
    CompactFamily,
    CompactGauge,
    CompactHistogram,
)
from monitor.observe.label_sets import (
    CONFERENCE_BUCKETS,
    DURATION_BUCKETS,
    LAG_BUCKETS,
    prime_sink,
    prime_source,
)
from monitor.observe.watch_metrics import WatchMetrics

PREFIX: Final = "conference_monitor"


class _Collectors:
    """Several collectors as one, for prometheus_client's encoders."""

    def __init__(self, collectors: Sequence[MetricWrapperBase]) -> None:
        self._collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


class Metrics:
    def __init__(
        self,
        sources: Sequence[str],
        sinks: Sequence[str],
        registry: CollectorRegistry | None = None,
        *,
        watched: Sequence[str] = (),
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.live_conferences = CompactGauge(
            f"{PREFIX}_live_conferences",
            "Conferences live now, as of the last complete poll.",
            ["source", "conference_type", "context_type"],
            registry=r,
        )
        self.events = CompactCounter(
            f"{PREFIX}_events", "Events committed to the outbox.", ["source", "event"], registry=r
        )
        self.ends = CompactCounter(
            f"{PREFIX}_conference_ends",
            "conference.ended events by the confirmed reason.",
            ["source", "reason"],
            registry=r,
        )
        self.conference_duration = CompactHistogram(
            f"{PREFIX}_conference_duration_seconds",
            "How long conferences ran: Canvas's ended_at minus started_at, observed when an end "
            "is confirmed (reason ended).",
            ["source", "conference_type"],
            buckets=CONFERENCE_BUCKETS,
            registry=r,
        )
        self.polls = CompactCounter(f"{PREFIX}_polls", "Polls attempted.", ["source"], registry=r)
        self.poll_failures = CompactCounter(
            f"{PREFIX}_poll_failures",
            "Polls that did not complete; they changed nothing.",
            ["source", "reason"],
            registry=r,
        )
        self.poll_duration = CompactHistogram(
            f"{PREFIX}_poll_duration_seconds",
            "Time a poll took, Canvas requests and commit included.",
            ["source"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.last_success = CompactGauge(
            f"{PREFIX}_last_successful_poll_timestamp_seconds",
            "Unix time of the last poll that completed and committed.",
            ["source"],
            registry=r,
        )
        self.poll_interval = Gauge(
            f"{PREFIX}_poll_interval_seconds", "The configured poll interval.", registry=r
        )
        self.invalid_records = CompactCounter(
            f"{PREFIX}_invalid_records",
            "Conference records skipped because they had no usable id.",
            ["source"],
            registry=r,
        )
        self.canvas_requests = CompactCounter(
            f"{PREFIX}_canvas_requests",
            "Requests sent to Canvas, by HTTP status (or timeout / connection).",
            ["source", "code"],
            registry=r,
        )
        self.rate_limit_remaining = CompactGauge(
            f"{PREFIX}_canvas_rate_limit_remaining",
            "X-Rate-Limit-Remaining of the last Canvas answer (NaN until the first one).",
            ["source"],
            registry=r,
        )
        self.deliveries = Counter(
            f"{PREFIX}_deliveries", "Events a sink acknowledged.", ["sink"], registry=r
        )
        self.delivery_failures = Counter(
            f"{PREFIX}_delivery_failures",
            "Delivery attempts that failed, by reason.",
            ["sink", "reason"],
            registry=r,
        )
        self.delivery_duration = Histogram(
            f"{PREFIX}_delivery_duration_seconds",
            "Time of one delivery attempt.",
            ["sink"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.delivery_lag = Histogram(
            f"{PREFIX}_delivery_lag_seconds",
            "From detecting a change to the sink acknowledging its event.",
            ["sink"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.sink_up = Gauge(
            f"{PREFIX}_sink_up",
            "1 while the sink delivers; 0 while its deliveries fail or it is disabled.",
            ["sink"],
            registry=r,
        )
        self.sink_disabled = Gauge(
            f"{PREFIX}_sink_disabled",
            "1 when the sink's endpoint is gone and it stopped sending (see its dead letters).",
            ["sink"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            f"{PREFIX}_outbox_pending",
            "Events committed for a sink and not yet acknowledged.",
            ["sink"],
            registry=r,
        )
        self.dead_letters = Gauge(
            f"{PREFIX}_dead_letters", "Events in a sink's dead-letter queue.", ["sink"], registry=r
        )
        self.leader = CompactGauge(
            f"{PREFIX}_leader",
            "1 where this replica holds the source's lease (and so polls it).",
            ["source"],
            registry=r,
        )
        self.sink_leader = Gauge(
            f"{PREFIX}_sink_leader",
            "1 where this replica holds the sink's lease (and so delivers to it).",
            ["sink"],
            registry=r,
        )
        self.replicas = Gauge(
            f"{PREFIX}_replicas", "Live replicas, as this one last saw them.", registry=r
        )
        self.lease_transitions = CompactCounter(
            f"{PREFIX}_lease_transitions",
            "Leases this replica took, lost, or handed back.",
            ["lease", "change"],
            registry=r,
        )
        self.commits_refused = CompactCounter(
            f"{PREFIX}_commits_refused",
            "Commits the store refused because the poller's lease (fencing token) had passed to "
            "another replica; the poll stored and announced nothing.",
            ["source"],
            registry=r,
        )
        self.state_resets = CompactCounter(
            f"{PREFIX}_state_resets",
            "A source's state was missing from the store and was rebuilt (see docs/scaling.md).",
            ["source", "how"],
            registry=r,
        )
        self.build_info = Gauge(
            f"{PREFIX}_build_info",
            "Always 1; the version label says which build runs.",
            ["version"],
            registry=r,
        )
        self.build_info.labels(__version__).set(1)
        #: The budget of sources that watch many contexts (those with accounts) only: a few
        #: dozen series each, which 1,000 sources of a few courses each need not carry.
        self.watch = WatchMetrics(watched, r)
        #: ``/metrics`` renders the compact families itself and the rest through
        #: prometheus_client (``monitor.exposition``); ``registry`` holds both.
        self.compact = [m for m in vars(self).values() if isinstance(m, CompactFamily)]
        self.standard = _Collectors(
            [m for m in vars(self).values() if isinstance(m, MetricWrapperBase)]
            + self.watch.families()
        )
        #: Per source, the (conference type, context type) pairs its live gauge has.
        self.live_labels: dict[str, set[tuple[str, str]]] = {}
        self._duration_labels: set[tuple[str, str]] = set()  # (source, conference type)
        for source in sources:
            prime_source(self, source)
        for sink in sinks:
            prime_sink(self, sink)

    def set_leader(self, lease: LeaseName, held: bool) -> None:
        match lease.kind:
            case LeaseKind.SOURCE:
                self.leader.labels(lease.name).set(int(held))
            case LeaseKind.SINK:
                self.sink_leader.labels(lease.name).set(int(held))

    def set_live(self, source: str, live: Iterable[Conference]) -> None:
        """Set the live gauge of ``source``; combinations that emptied drop to zero."""
        counts = Tally((c.conference_type, c.context_type or "unknown") for c in live)
        known = self.live_labels.setdefault(source, set())
        for labels in known - counts.keys():
            self.live_conferences.labels(source, *labels).set(0)
        for (conference_type, context_type), count in counts.items():
            known.add((conference_type, context_type))
            if (source, conference_type) not in self._duration_labels:
                self._duration_labels.add((source, conference_type))
                # The duration histogram of a type appears once one is live, so it is there
                # before that type's first end (``increase`` sees the first observation), and
                # only for the types a source has: most schools use one of five, and a primed
                # histogram is 16 series per type and source (80,000 at 1,000 sources).
                self.conference_duration.labels(source, conference_type)
            self.live_conferences.labels(source, conference_type, context_type).set(count)
