"""Compact metric families (``monitor/compact_metrics.py``) and the streamed ``/metrics``.

They replace prometheus_client's labelled metrics for the per-source series, so they must
export exactly what those did: the same samples for the same operations, in text written the
way prometheus_client's own encoders write it, in both exposition formats.
"""

from __future__ import annotations

import gzip
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as untyped_openmetrics
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from monitor.core.lease_name import LeaseName
from monitor.core.models import Conference
from monitor.observe.compact_metrics import (
    CompactCounter,
    CompactFamily,
    CompactGauge,
    CompactHistogram,
)
from monitor.observe.exposition import metrics_handler
from monitor.observe.metrics import Metrics
from tests.support.redis_server import free_port

BUCKETS = (0.5, 1, 2.5, 10)
#: Label values Canvas could send (conference types come from Canvas) and our own.
AWKWARD = ('Big"Blue\\Button', "line\nbreak", "Zoom ü", "sink:ops", "")
#: Values at the edges of number formatting: bucket bounds, Go's exponent switch, NaN.
AMOUNTS = (0.5, 1.0, 2.5, 3, 999_999.0, 1_000_000.0, 1e21, 123_456_789.5, 1e-7)


def openmetrics_latest(collector: Any) -> bytes:
    """prometheus_client's OpenMetrics encoder (untyped there)."""
    text: bytes = untyped_openmetrics(collector)  # type: ignore[no-untyped-call]
    return text


class One:
    """A collector of given families, for prometheus_client's encoders."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> list[Metric]:
        return self.families


def reference(family: CompactFamily, openmetrics: bool) -> str:
    """The family as prometheus_client renders what its ``collect`` yields."""
    if openmetrics:
        return openmetrics_latest(One(family.collect())).decode().removesuffix("# EOF\n")
    return generate_latest(One(family.collect())).decode()


def driven() -> list[CompactFamily]:
    counter = CompactCounter("t_requests", 'Requests "sent"\nby code \\ path.', ["source", "code"])
    gauge = CompactGauge("t_live", "Live now.", ["source", "conference_type", "context_type"])
    histogram = CompactHistogram("t_seconds", "Took.", ["source", "kind"], BUCKETS)
    empty = CompactCounter("t_unused", "Never touched.", ["source"])
    for value in AWKWARD:
        counter.labels("main", value)
        gauge.labels(value, value, "Course").set(-2.5)
        histogram.labels("main", value)
    for n, amount in enumerate(AMOUNTS):
        counter.labels("main", "200").inc(amount)
        gauge.labels("main", f"amount {n}", "Course").set(amount)
        histogram.labels("other", "BigBlueButton").observe(amount)
    gauge.labels("main", "nan", "x").set(math.nan)
    gauge.labels("main", "inf", "x").set(math.inf)
    gauge.labels("main", "-inf", "x").set(-math.inf)
    return [counter, gauge, histogram, empty]


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_render_writes_what_prometheus_client_writes(openmetrics: bool) -> None:
    for family in driven():
        assert family.render(openmetrics) == reference(family, openmetrics), family.name


def exported(families: Iterable[Any], openmetrics: bool) -> set[tuple[Any, ...]]:
    """Every sample of ``families`` through an encoder and parser, but ``_created`` values
    (creation times differ by the microseconds between making the two)."""
    encode = openmetrics_latest if openmetrics else generate_latest
    parse = parse_openmetrics if openmetrics else parse_text
    found = set()
    for family in parse(encode(One(f for c in families for f in c.collect())).decode()):
        for s in family.samples:
            shown = "created" if s.name.endswith("_created") else repr(s.value)
            found.add((family.name, family.type, s.name, tuple(sorted(s.labels.items())), shown))
    return found


Operate = Callable[[Any, Any, Any], None]


def counts(counter: Any, gauge: Any, histogram: Any) -> None:
    for value in AWKWARD:
        counter.labels("main", value).inc()
    counter.labels("main", "429").inc(2.5)
    counter.labels("spare", "200")  # created, never counted: exported as zero
    gauge.labels("main", "BigBlueButton").set(3)
    gauge.labels("main", "Zoom").set(math.nan)
    gauge.labels("spare", "Zoom")
    for amount in (*AMOUNTS, *BUCKETS, 0.0, 1e9):
        histogram.labels("main", "BigBlueButton").observe(amount)
    histogram.labels("spare", "Zoom")


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_the_same_operations_export_the_same_samples_as_prometheus_client(
    openmetrics: bool,
) -> None:
    ours = (
        CompactCounter("t_total_things", "Things.", ["source", "code"]),
        CompactGauge("t_level", "Level.", ["source", "kind"]),
        CompactHistogram("t_took_seconds", "Took.", ["source", "kind"], BUCKETS),
    )
    theirs = (
        Counter("t_total_things", "Things.", ["source", "code"], registry=None),
        Gauge("t_level", "Level.", ["source", "kind"], registry=None),
        Histogram("t_took_seconds", "Took.", ["source", "kind"], buckets=BUCKETS, registry=None),
    )
    counts(*ours)
    counts(*theirs)
    assert exported(ours, openmetrics) == exported(theirs, openmetrics)


def test_time_observes_each_block() -> None:
    histogram = CompactHistogram("t_block_seconds", "Took.", ["source"], BUCKETS)
    series = histogram.labels("main")
    with series.time():  # two timings of one series, one inside the other
        time.sleep(0.02)
        with series.time():
            pass
    (family,) = histogram.collect()
    found = {s.name + s.labels.get("le", ""): s.value for s in family.samples}
    assert found["t_block_seconds_bucket0.5"] == found["t_block_seconds_count"] == 2
    assert 0.02 <= found["t_block_seconds_sum"] < 0.5  # the outer one counts from its start


def test_nan_goes_to_the_sum_only_as_in_prometheus_client() -> None:
    ours = CompactHistogram("t_nan_seconds", "Took.", ["source"], BUCKETS)
    theirs = Histogram("t_nan_seconds", "Took.", ["source"], buckets=BUCKETS, registry=None)
    for histogram in (ours, theirs):
        histogram.labels("main").observe(float("nan"))
        histogram.labels("main").observe(1.0)
    assert exported([ours], False) == exported([theirs], False)
    assert ("t_nan_seconds_count", 1.0) in {(s.name, s.value) for s in ours.collect()[0].samples}


def test_labels_must_match_the_label_names() -> None:
    counter = CompactCounter("t_checked", "Checked.", ["source", "reason"])
    with pytest.raises(ValueError, match="t_checked"):
        counter.labels("main")
    with pytest.raises(ValueError, match="t_checked"):
        counter.labels("main", "a", "b")
    with pytest.raises(ValueError, match="labelled"):
        CompactGauge("t_bare", "No labels.", [])


def test_a_registry_reads_compact_families() -> None:
    registry = CollectorRegistry()
    counter = CompactCounter("t_reads", "Reads.", ["source"], registry=registry)
    counter.labels("main").inc(4)
    assert registry.get_sample_value("t_reads_total", {"source": "main"}) == 4
    assert registry.get_sample_value("t_reads_created", {"source": "main"}) == counter.created
    with pytest.raises(ValueError, match="Duplicated"):
        CompactGauge("t_reads", "Again.", ["source"], registry=registry)
    restricted = generate_latest(registry.restricted_registry(["t_reads_total"])).decode()
    assert 't_reads_total{source="main"} 4.0' in restricted


# /metrics, served for real on loopback.


def busy_metrics() -> Metrics:
    metrics = Metrics(["main", "spare"], ["ops"])
    metrics.polls.labels("main").inc(3)
    metrics.poll_duration.labels("main").observe(0.3)
    metrics.set_live("main", [Conference(1, {"id": 1, "conference_type": 'Odd"Type'})])
    metrics.set_leader(LeaseName.sink("ops"), True)
    metrics.deliveries.labels("ops").inc(2)
    return metrics


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Metrics]]:
    metrics = busy_metrics()
    app = web.Application()
    app.router.add_get("/metrics", metrics_handler(metrics))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/metrics", metrics
    finally:
        await runner.cleanup()


def parsed(text: str, openmetrics: bool) -> set[tuple[str, tuple[tuple[str, str], ...], str]]:
    parse = parse_openmetrics if openmetrics else parse_text
    return {
        (s.name, tuple(sorted(s.labels.items())), repr(s.value))
        for family in parse(text)
        for s in family.samples
    }


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        ("", False),
        ("text/plain;version=0.0.4;q=0.3,*/*;q=0.2", False),
        # What Prometheus sends: it prefers OpenMetrics.
        (
            "application/openmetrics-text;version=1.0.0;q=0.5,"
            "application/openmetrics-text;version=0.0.1;q=0.4,"
            "text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            True,
        ),
    ],
    ids=["no-accept", "text", "prometheus"],
)
async def test_metrics_endpoint_serves_the_whole_registry_in_the_asked_format(
    served: tuple[str, Metrics], accept: str, openmetrics: bool
) -> None:
    url, metrics = served
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"Accept": accept} if accept else {}) as response,
    ):
        assert response.status == 200
        content_type = response.headers["Content-Type"]
        text = await response.text()
    encode = openmetrics_latest if openmetrics else generate_latest
    assert content_type.startswith(
        "application/openmetrics-text" if openmetrics else "text/plain; version=0.0.4"
    )
    assert text.count("# EOF") == (1 if openmetrics else 0)
    assert text.endswith("# EOF\n") or not openmetrics
    # The same samples as prometheus_client's encoder over the whole registry.
    assert parsed(text, openmetrics) == parsed(encode(metrics.registry).decode(), openmetrics)
    assert 'conference_monitor_polls_total{source="main"} 3.0' in text
    assert 'conference_type="Odd\\"Type"' in text
    assert 'conference_monitor_deliveries_total{sink="ops"} 2.0' in text


async def test_metrics_endpoint_compresses_when_asked_and_filters_by_name(
    served: tuple[str, Metrics],
) -> None:
    url, _ = served
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(url, headers={"Accept-Encoding": "gzip"}) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            body = gzip.decompress(await response.read()).decode()
        assert 'conference_monitor_polls_total{source="spare"} 0.0' in body
    async with aiohttp.ClientSession() as http:
        query = {"name[]": "conference_monitor_polls_total"}
        async with http.get(url, params=query) as response:
            filtered = await response.text()
    names = {family.name for family in parse_text(filtered)}
    assert names == {"conference_monitor_polls"}
