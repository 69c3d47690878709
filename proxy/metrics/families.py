"""Lock-free counter and histogram families for the request path, exposed through a Collector.

prometheus_client takes a lock per ``inc``/``observe`` and scans buckets linearly: ~20 µs for the
dozen updates one request makes. Here an update is a dict or list operation on the event-loop
thread (the only writer); the scrape copies the dicts (atomic under the GIL) and renders them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LabelValues = tuple[str, ...]


class CounterFamily:
    """A counter's samples by label values. ``name`` without the ``_total`` suffix."""

    __slots__ = ("doc", "labelnames", "name", "values")

    def __init__(self, name: str, doc: str, labelnames: Sequence[str]) -> None:
        self.name = name.removesuffix("_total")
        self.doc = doc
        self.labelnames = tuple(labelnames)
        self.values: dict[LabelValues, float] = {}

    def inc(self, key: LabelValues, amount: float = 1.0) -> None:
        values = self.values
        values[key] = values.get(key, 0.0) + amount

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labelnames)
        for key, value in self.values.copy().items():
            family.add_metric(key, value)
        return family


class HistogramFamily:
    """A histogram's buckets by label values: one list per series, ``[n_0 … n_inf, sum]``."""

    __slots__ = ("_les", "bounds", "doc", "labelnames", "name", "series")

    def __init__(self, name: str, doc: str, labelnames: Sequence[str],
                 bounds: Sequence[float]) -> None:
        self.name = name
        self.doc = doc
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(float(b) for b in bounds)
        # prometheus_client's own ``le`` rendering, so buckets read exactly as its Histogram's.
        self._les = [floatToGoString(b) for b in self.bounds]  # type: ignore[no-untyped-call]
        self._les.append("+Inf")
        self.series: dict[LabelValues, list[float]] = {}

    def observe(self, key: LabelValues, value: float) -> None:
        self.add(self.row(key), value)

    def row(self, key: LabelValues) -> list[float]:
        """The series for ``key``, made on first use: a caller may keep it and ``add`` to it."""
        row = self.series.get(key)
        if row is None:
            row = self.series[key] = [0.0] * (len(self.bounds) + 2)
        return row

    def add(self, row: list[float], value: float) -> None:
        # le semantics: a value equal to a bound belongs to that bound's bucket.
        row[bisect_left(self.bounds, value)] += 1
        row[-1] += value

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labelnames)
        for key, row in self.series.copy().items():
            snapshot = row.copy()
            cumulative, buckets = 0.0, []
            for le, n in zip(self._les, snapshot[:-1], strict=True):
                cumulative += n
                buckets.append((le, cumulative))
            family.add_metric(key, buckets, snapshot[-1])
        return family


class Derived(Protocol):
    """Families computed at scrape time from another structure (``rows.Rows``)."""

    def collect(self) -> Iterator[Metric]: ...


class FamiliesCollector(Collector):
    """Registers a set of families on a ``CollectorRegistry`` as one collector. ``derived``
    (counter families summed at scrape time, described by ``derived_specs``) come first."""

    def __init__(self, families: Iterable[CounterFamily | HistogramFamily], *,
                 derived: Derived | None = None,
                 derived_specs: Iterable[CounterFamily] = ()) -> None:
        self._families = tuple(families)
        self._derived = derived
        self._specs = tuple(derived_specs)

    def collect(self) -> Iterator[Metric]:
        if self._derived is not None:
            yield from self._derived.collect()
        for family in self._families:
            yield family.collect()

    def describe(self) -> Iterator[Metric]:
        # Names only, so the registry can refuse a duplicate at registration (as for built-ins).
        for f in (*self._specs, *self._families):
            if isinstance(f, CounterFamily):
                yield CounterMetricFamily(f.name, f.doc, labels=f.labelnames)
            else:
                yield HistogramMetricFamily(f.name, f.doc, labels=f.labelnames)
