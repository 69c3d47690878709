"""Percentiles behave like percentiles for any input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bench.stats import median, percentile, ratio

floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(st.lists(floats, min_size=1, max_size=200), st.floats(min_value=0, max_value=100))
def test_percentile_is_within_the_data_and_monotone(values: list[float], q: float) -> None:
    p = percentile(values, q)
    assert p is not None
    assert min(values) <= p <= max(values)
    assert percentile(values, 0) == min(values)
    assert percentile(values, 100) == max(values)
    higher = percentile(values, min(100.0, q + 10))
    assert higher is not None
    assert higher >= p - 1e-9


@given(st.lists(floats, min_size=1, max_size=99).filter(lambda v: len(v) % 2 == 1))
def test_median_of_an_odd_list_is_its_middle_element(values: list[float]) -> None:
    assert median(values) == sorted(values)[len(values) // 2]


def test_missing_values() -> None:
    assert percentile([], 50) is None
    assert median([None, None]) is None
    assert median([None, 3.0, 1.0, None, 2.0]) == 2.0
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 2.0) is None
    assert ratio(3.0, 2.0) == 1.5
