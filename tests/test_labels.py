"""Bounded label values: the cap holds for any input, and admitted values stay stable."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proxy.metrics import MAX_VALUE_LENGTH, OVERFLOW, LabelCap


def test_first_values_pass_then_overflow() -> None:
    cap = LabelCap(2)
    assert [cap.admit(v) for v in ("a", "b", "a", "c", "b", "d")] == [
        "a", "b", "a", OVERFLOW, "b", OVERFLOW]
    assert len(cap) == 2


def test_empty_means_none_and_never_uses_a_slot() -> None:
    cap = LabelCap(1)
    assert cap.admit("") == ""
    assert cap.admit("gpt-5") == "gpt-5"
    assert cap.admit("") == ""


def test_over_long_and_reserved_values_overflow() -> None:
    cap = LabelCap(10)
    assert cap.admit("m" * (MAX_VALUE_LENGTH + 1)) == OVERFLOW
    assert cap.admit("m" * MAX_VALUE_LENGTH) == "m" * MAX_VALUE_LENGTH
    # A client naming its model "__overflow__" must not take a slot or pass as a real value.
    assert cap.admit(OVERFLOW) == OVERFLOW
    assert len(cap) == 1


@given(limit=st.integers(1, 20), values=st.lists(st.text(max_size=5), max_size=200))
def test_distinct_outputs_never_exceed_the_cap(limit: int, values: list[str]) -> None:
    cap = LabelCap(limit)
    out = [cap.admit(v) for v in values]
    assert len(set(out) - {"", OVERFLOW}) <= limit
    # Stable: a value admitted once is admitted every time after.
    first: dict[str, str] = {}
    for v, o in zip(values, out, strict=True):
        if o != OVERFLOW:
            assert first.setdefault(v, o) == o == v
