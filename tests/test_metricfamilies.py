"""The lock-free families expose exactly what prometheus_client's own Counter/Histogram would."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from proxy.metrics import CounterFamily, FamiliesCollector, HistogramFamily

BOUNDS = (0.01, 0.1, 1.0, 10.0)
label_values = st.sampled_from(["a", "b", 'quote"d', "new\nline"])
observations = st.lists(st.tuples(label_values, st.floats(min_value=0, max_value=100)), max_size=50)


def without_created(text: bytes) -> list[bytes]:
    return [line for line in text.splitlines() if b"_created" not in line]


@given(obs=observations)
def test_histogram_matches_prometheus_client(obs: list[tuple[str, float]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fam = HistogramFamily("x_seconds", "doc", ("k",), BOUNDS)
    ours.register(FamiliesCollector([fam]))
    ref = Histogram("x_seconds", "doc", ("k",), buckets=BOUNDS, registry=theirs)
    for label, value in obs:
        fam.observe((label,), value)
        ref.labels(label).observe(value)
    assert without_created(generate_latest(ours)) == without_created(generate_latest(theirs))


@given(obs=observations)
def test_counter_matches_prometheus_client(obs: list[tuple[str, float]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fam = CounterFamily("x_total", "doc", ("k",))
    ours.register(FamiliesCollector([fam]))
    ref = Counter("x_total", "doc", ("k",), registry=theirs)
    for label, value in obs:
        fam.inc((label,), value)
        ref.labels(label).inc(value)
    assert without_created(generate_latest(ours)) == without_created(generate_latest(theirs))


def test_a_duplicate_name_is_refused_like_a_builtin() -> None:
    reg = CollectorRegistry()
    reg.register(FamiliesCollector([CounterFamily("dup_total", "doc", ())]))
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Counter("dup_total", "doc", registry=reg)


def test_scraping_while_the_loop_thread_writes() -> None:
    # The scrape runs in a worker thread (admin.py) while requests keep updating the dicts.
    reg = CollectorRegistry()
    counter = CounterFamily("busy_total", "doc", ("k",))
    hist = HistogramFamily("busy_seconds", "doc", ("k",), BOUNDS)
    reg.register(FamiliesCollector([counter, hist]))
    stop, errors = threading.Event(), []

    def scrape() -> None:
        while not stop.is_set():
            try:
                generate_latest(reg)
            except Exception as exc:  # pragma: no cover - the failure being tested for
                errors.append(exc)

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        for i in range(100_000):
            counter.inc((str(i % 5000),))  # new keys keep resizing the dict
            hist.observe((str(i % 3000),), i % 7)
    finally:
        stop.set()
        scraper.join()
    assert errors == []
    assert reg.get_sample_value("busy_total", {"k": "0"}) == 20
    assert reg.get_sample_value("busy_seconds_count", {"k": "0"}) == 34
