"""One aggregation per record: each finished request is folded into one row, and the per-request
counter families are summed from the rows when ``/metrics`` is rendered.

A ``Row`` is keyed by every label a record carries (``RowKey``); it holds the record's counts
(requests, tokens by type, characters, audio seconds, charge, usage records) and references to
the histogram series the record feeds (those series keep their own, coarser, label sets). So a
record costs one key, one dict lookup, a few additions and its histogram buckets, where it used
to build a key and update a dict for every counter and histogram it touched. The scrape (cached
a second, ``exposition.py``) pays the sums: one pass over the rows.

Bounded as the families it feeds: every label value in a key is capped (``labels.LabelCap``) or
drawn from a fixed set, and a row is a few slots.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from prometheus_client.core import CounterMetricFamily, Metric

from ..record import RequestRecord
from .families import CounterFamily, HistogramFamily

#: (provider, api, model, customer, meter, code, source, partial, stream, response model, error
#: type); customer is "" when the customer label is off. source, partial, stream, response model
#: and error are "" for a refused request (it feeds only the requests counter).
RowKey = tuple[str, str, str, str, str, str, str, str, str, str, str]
Series = list[float]


class Row:
    """What the records of one ``RowKey`` added up to, and the histogram series they feed (None
    until first fed)."""

    __slots__ = ("audio", "cache_read", "cache_write", "characters", "charge", "charged",
                 "duration", "genai_duration", "genai_input", "genai_output", "input", "output",
                 "overhead", "reasoning", "records", "requests", "ttfb")

    def __init__(self) -> None:
        self.requests = 0
        self.records = 0  # forwarded requests (usage records)
        self.input = self.output = self.cache_read = self.cache_write = self.reasoning = 0
        self.characters = 0
        self.audio = 0.0
        self.charge = 0.0
        self.charged = 0  # priced requests: the charge series exists once one was, even at 0
        self.duration: Series | None = None
        self.ttfb: Series | None = None
        self.overhead: Series | None = None
        self.genai_duration: Series | None = None
        self.genai_input: Series | None = None
        self.genai_output: Series | None = None


class Histograms:
    """The histogram families a record feeds (kept apart: their label sets are coarser)."""

    __slots__ = ("duration", "genai_duration", "genai_tokens", "overhead", "ttfb")

    def __init__(self, *, duration: HistogramFamily, ttfb: HistogramFamily,
                 overhead: HistogramFamily, genai_tokens: HistogramFamily,
                 genai_duration: HistogramFamily) -> None:
        self.duration, self.ttfb, self.overhead = duration, ttfb, overhead
        self.genai_tokens, self.genai_duration = genai_tokens, genai_duration


class Rows:
    """The rows, and the counter families summed from them (``collect``); ``counters`` are the
    ``CounterFamily`` descriptions (name, help, labels) in exposition order: requests, tokens,
    characters, audio seconds, charge, usage records. They hold no values of their own here."""

    __slots__ = ("_counters", "_h", "_with_customer", "priced", "rows")

    def __init__(self, *, with_customer: bool, priced: bool,
                 counters: tuple[CounterFamily, CounterFamily, CounterFamily, CounterFamily,
                                 CounterFamily, CounterFamily],
                 histograms: Histograms) -> None:
        self._with_customer = with_customer
        self.priced = priced
        self._counters = counters
        self._h = histograms
        self.rows: dict[RowKey, Row] = {}

    def refused(self, key: RowKey) -> None:
        """A request the sidecar refused itself: it counts as a request, nothing more."""
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row()
        row.requests += 1

    def add(self, key: RowKey, rec: RequestRecord, charge: Decimal | None,
            genai: tuple[str, str] | None) -> None:
        """One forwarded request. ``genai``: its (operation, provider) names when the OpenTelemetry
        GenAI families count it."""
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row()
        row.requests += 1
        row.records += 1
        u = rec.usage
        # Absent (None) and 0 both add nothing; a series appears once something was counted.
        if u.input_tokens:
            row.input += u.input_tokens
        if u.output_tokens:
            row.output += u.output_tokens
        if u.cache_read_tokens:
            row.cache_read += u.cache_read_tokens
        if u.cache_write_tokens:
            row.cache_write += u.cache_write_tokens
        if u.reasoning_tokens:
            row.reasoning += u.reasoning_tokens
        if u.input_characters:
            row.characters += u.input_characters
        if u.audio_seconds:
            row.audio += float(u.audio_seconds)
        # A priced request counts even at 0 (the series exists); an unpriced one never does.
        if charge is not None and self.priced:
            row.charge += float(charge)
            row.charged += 1
        h = self._h
        provider, api = key[0], key[1]
        series = row.duration or h.duration.row((provider, api, key[8]))
        row.duration = series
        h.duration.add(series, rec.duration)
        if rec.stream and rec.ttfb is not None:
            series = row.ttfb = row.ttfb or h.ttfb.row((provider, api))
            h.ttfb.add(series, rec.ttfb)
        if rec.overhead is not None:
            series = row.overhead = row.overhead or h.overhead.row((provider, api))
            h.overhead.add(series, rec.overhead)
        if genai is not None:
            op, pname = genai
            model, response_model, error = key[2], key[9], key[10]
            series = row.genai_duration = row.genai_duration or h.genai_duration.row(
                (op, pname, model, error))
            h.genai_duration.add(series, rec.duration)
            if u.source != "missing":
                if u.input_tokens is not None and u.input_tokens >= 0:
                    series = row.genai_input = row.genai_input or h.genai_tokens.row(
                        (op, pname, "input", model, response_model))
                    h.genai_tokens.add(series, u.input_tokens)
                if u.output_tokens is not None and u.output_tokens >= 0:
                    series = row.genai_output = row.genai_output or h.genai_tokens.row(
                        (op, pname, "output", model, response_model))
                    h.genai_tokens.add(series, u.output_tokens)

    def collect(self) -> Iterator[Metric]:
        """The counter families, in exposition order (charge only when priced)."""
        requests: dict[tuple[str, ...], float] = {}
        tokens: dict[tuple[str, ...], float] = {}
        characters: dict[tuple[str, ...], float] = {}
        audio: dict[tuple[str, ...], float] = {}
        charge: dict[tuple[str, ...], float] = {}
        records: dict[tuple[str, ...], float] = {}
        with_customer = self._with_customer
        # A copy of the dict (atomic under the GIL): the loop thread may add rows meanwhile.
        for key, row in self.rows.copy().items():
            provider, api, model, customer, meter, code, source, partial = key[:8]
            usage = (provider, api, model, customer, meter) if with_customer else \
                (provider, api, model, meter)
            _add(requests, (*usage, code), row.requests)
            if not row.records:
                continue  # refused requests count nothing else
            _add(tokens, (*usage, "input"), row.input)
            _add(tokens, (*usage, "output"), row.output)
            _add(tokens, (*usage, "cache_read"), row.cache_read)
            _add(tokens, (*usage, "cache_write"), row.cache_write)
            _add(tokens, (*usage, "reasoning"), row.reasoning)
            _add(characters, usage, row.characters)
            _add(audio, usage, row.audio)
            if row.charged:
                where = (customer, meter) if with_customer else (meter,)
                charge[where] = charge.get(where, 0.0) + row.charge
            _add(records, (provider, api, source, partial), row.records)
        c = self._counters
        yield _family(c[0], requests)
        yield _family(c[1], tokens)
        yield _family(c[2], characters)
        yield _family(c[3], audio)
        if self.priced:
            yield _family(c[4], charge)
        yield _family(c[5], records)


def _add(into: dict[tuple[str, ...], float], key: tuple[str, ...], value: float) -> None:
    # A series exists once something was counted in it: a token type never seen has none.
    if value:
        into[key] = into.get(key, 0.0) + value


def _family(spec: CounterFamily, values: dict[tuple[str, ...], float]) -> Metric:
    family = CounterMetricFamily(spec.name, spec.doc, labels=spec.labelnames)
    for key, value in values.items():
        family.add_metric(key, value)
    return family
