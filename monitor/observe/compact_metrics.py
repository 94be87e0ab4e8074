"""Labelled metrics held as plain numbers, for the series every source has.

Why not prometheus_client's own labelled metrics for these: there, each label set is an object
with a lock and value objects of its own, some 28 kB for the ~75 series of one source (28 MB at
1,000 sources), and its exposition renders 75,000 samples in 0.4 s (0.7 s as OpenMetrics) with
the event loop blocked. Here a family is one dict from label values to a float (a counter or
gauge) or to an array of bucket counts (a histogram); ``render`` writes the exposition text
straight from it, and ``collect`` yields the same samples as standard metric families, for
anything that reads a registry (``get_sample_value``, ``restricted_registry``).

Kept because a target needs it (``python3 dev.py bench``, many sources: 1,000 sources x 20,
30 s, scraped every 30 s, 2026-12-07): with ``collect`` alone served by prometheus_client's
own exposition (the plain form), the service took 4.65 % of a core and 117 MB at its peak, a
scrape 2.8 s; targets <= 2 % and <= 100 MB (docs/performance.md). With ``render``: 1.62 % and
90 MB, a scrape 115 ms.

The API is the part of prometheus_client's the monitor uses: ``labels(...)`` creates the series
(so that it is exported as zero before it counts) and returns a child with ``inc``, ``set``,
``observe`` or ``time``. The monitor runs on one thread (asyncio), so there are no locks. A
series counts from zero since its family was made, so the family's creation time is every one
of its series' ``_created``: a series first touched later was zero all along.
"""

from __future__ import annotations

import math
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import ClassVar, Final

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

Key = tuple[str, ...]
INF: Final = float("inf")


def _number(value: float) -> str:
    """A sample value as prometheus_client writes it (Go's formatting: ``1.0``, ``+Inf``)."""
    if -1e6 < value < 1e6:  # where Python's repr is Go's (a scrape writes 75,000 of them)
        return repr(value)
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def _escape_value(value: str) -> str:
    """A label value as both exposition formats write it."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


_ESCAPED: dict[str, str] = {}  # label values repeat on every line: escape each once


def _escaped(value: str) -> str:
    escaped = _ESCAPED.get(value)
    if escaped is None:
        escaped = _ESCAPED[value] = _escape_value(value)
    return escaped


def _template(names: Sequence[str]) -> str:
    """A format string for label values in ``names``' order: ``b="{1}",a="{0}"`` is
    ``a="x",b="y"`` with the names sorted, as prometheus_client writes them."""
    ordered = sorted(range(len(names)), key=names.__getitem__)
    return ",".join(f'{names[i]}="{{{i}}}"' for i in ordered)


class CompactFamily:
    kind: ClassVar[str]

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        if not self.labelnames:
            raise ValueError(f"{name}: a compact family is for labelled series")
        self.created = time.time()
        self._labels = _template(self.labelnames)
        if registry is not None:
            registry.register(self)

    def _key(self, values: Sequence[object]) -> Key:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values!r}")
        return tuple(map(str, values))  # a str stays itself: labels() runs on every poll

    def describe(self) -> list[Metric]:
        return [Metric(self.name, self.documentation, self.kind)]

    def collect(self) -> list[Metric]:
        metric = Metric(self.name, self.documentation, self.kind)
        for labels, suffix, extra, value in self._samples():
            metric.add_sample(self.name + suffix, {**labels, **extra}, value)
        return [metric]

    def _samples(self) -> Iterator[tuple[dict[str, str], str, dict[str, str], float]]:
        raise NotImplementedError

    def render(self, openmetrics: bool) -> str:
        """This family in the text format (0.0.4), or in OpenMetrics 1.0 without ``# EOF``."""
        raise NotImplementedError

    def _label_text(self, key: Key) -> str:
        return self._labels.format(*map(_escaped, key))

    def _header(self, name: str, kind: str, openmetrics: bool) -> str:
        doc = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        if openmetrics:
            doc = doc.replace('"', r"\"")
        return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n"


class _Values(CompactFamily):
    """A family whose series are single numbers."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._values: dict[Key, float] = {}
        super().__init__(name, documentation, labelnames, registry)

    def labels(self, *values: object) -> _Child:
        key = self._key(values)
        self._values.setdefault(key, 0.0)
        return _Child(self._values, key)


class CompactGauge(_Values):
    kind = "gauge"

    def _samples(self) -> Iterator[tuple[dict[str, str], str, dict[str, str], float]]:
        for key, value in self._values.items():
            yield dict(zip(self.labelnames, key, strict=True)), "", {}, value

    def render(self, openmetrics: bool) -> str:
        lines = [self._header(self.name, "gauge", openmetrics)]
        for key, value in self._values.items():
            lines.append(f"{self.name}{{{self._label_text(key)}}} {_number(value)}\n")
        return "".join(lines)


class CompactCounter(_Values):
    kind = "counter"

    def _samples(self) -> Iterator[tuple[dict[str, str], str, dict[str, str], float]]:
        for key, value in self._values.items():
            labels = dict(zip(self.labelnames, key, strict=True))
            yield labels, "_total", {}, value
            yield labels, "_created", {}, self.created

    def render(self, openmetrics: bool) -> str:
        total, created = f"{self.name}_total", f"{self.name}_created"
        created_at = _number(self.created)
        # OpenMetrics names the family without _total; the text format, with it.
        lines = [self._header(self.name if openmetrics else total, "counter", openmetrics)]
        created_lines: list[str] = []
        for key, value in self._values.items():
            labels = self._label_text(key)
            lines.append(f"{total}{{{labels}}} {_number(value)}\n")
            # OpenMetrics puts each series' _created after its _total; the text format has no
            # _created, and prometheus_client writes them as a gauge family of their own after.
            (lines if openmetrics else created_lines).append(
                f"{created}{{{labels}}} {created_at}\n"
            )
        if created_lines:
            lines.append(self._header(created, "gauge", False))
            lines += created_lines
        return "".join(lines)


class CompactHistogram(CompactFamily):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._bounds = (*(float(b) for b in buckets), INF)
        self._le = [_number(bound) for bound in self._bounds]
        #: Per series: a count per bucket (not cumulative), then the sum.
        self._values: dict[Key, array[float]] = {}
        super().__init__(name, documentation, labelnames, registry)
        self._bucket_labels = _template((*self.labelnames, "le"))

    def labels(self, *values: object) -> _HistogramChild:
        key = self._key(values)
        counts = self._values.get(key)
        if counts is None:
            counts = self._values[key] = array("d", bytes(8 * (len(self._bounds) + 1)))
        return _HistogramChild(counts, self._bounds)

    def _series(self) -> Iterator[tuple[Key, list[float], float]]:
        """Each series' cumulative bucket counts and its sum."""
        for key, counts in self._values.items():
            cumulative, running = [], 0.0
            for count in counts[:-1]:
                running += count
                cumulative.append(running)
            yield key, cumulative, counts[-1]

    def _samples(self) -> Iterator[tuple[dict[str, str], str, dict[str, str], float]]:
        for key, cumulative, total in self._series():
            labels = dict(zip(self.labelnames, key, strict=True))
            for le, count in zip(self._le, cumulative, strict=True):
                yield labels, "_bucket", {"le": le}, count
            yield labels, "_count", {}, cumulative[-1]
            yield labels, "_sum", {}, total
            yield labels, "_created", {}, self.created

    def render(self, openmetrics: bool) -> str:
        name = self.name
        created_at = _number(self.created)
        lines = [self._header(name, "histogram", openmetrics)]
        created: list[str] = []
        for key, cumulative, total in self._series():
            values = [*map(_escaped, key)]
            for le, count in zip(self._le, cumulative, strict=True):
                labels = self._bucket_labels.format(*values, le)
                lines.append(f"{name}_bucket{{{labels}}} {_number(count)}\n")
            labels = self._label_text(key)
            lines.append(f"{name}_count{{{labels}}} {_number(cumulative[-1])}\n")
            lines.append(f"{name}_sum{{{labels}}} {_number(total)}\n")
            (lines if openmetrics else created).append(f"{name}_created{{{labels}}} {created_at}\n")
        if created:  # the text format's separate _created gauge family (see CompactCounter.render)
            lines.append(self._header(f"{name}_created", "gauge", False))
            lines += created
        return "".join(lines)


class _Child:
    """One series of a counter or gauge."""

    __slots__ = ("_key", "_values")

    def __init__(self, values: dict[Key, float], key: Key) -> None:
        self._values = values
        self._key = key

    def inc(self, amount: float = 1.0) -> None:
        self._values[self._key] += amount

    def set(self, value: float) -> None:
        self._values[self._key] = float(value)


class _HistogramChild:
    """One series of a histogram."""

    __slots__ = ("_bounds", "_counts")

    def __init__(self, counts: array[float], bounds: tuple[float, ...]) -> None:
        self._counts = counts
        self._bounds = bounds

    def observe(self, value: float) -> None:
        if not math.isnan(value):  # NaN is in no bucket; prometheus_client adds it to the sum
            self._counts[bisect_left(self._bounds, value)] += 1
        self._counts[-1] += value

    def time(self) -> _Timer:
        """Observe how long the ``with`` block takes."""
        return _Timer(self)


class _Timer:
    __slots__ = ("_series", "_started")

    def __init__(self, series: _HistogramChild) -> None:
        self._series = series
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._series.observe(time.perf_counter() - self._started)
