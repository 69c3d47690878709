"""Provider usage objects to Usage: types are checked, dialects mapped, absent stays None."""

from __future__ import annotations

from decimal import Decimal

import pytest

from proxy.usage.base import Usage
from proxy.usage.fields import (
    MAX_TEXT,
    anthropic_usage,
    count,
    finish,
    merge_latest,
    openai_usage,
    seconds,
    text,
)


@pytest.mark.parametrize(("raw", "want"), [
    (0, 0), (12, 12), (12.0, 12), (True, None), (False, None), (-1, None), (1.5, None),
    ("12", None), (None, None), (2**60, None), (float("nan"), None),
])
def test_count(raw: object, want: int | None) -> None:
    assert count(raw) == want


def test_seconds_and_text() -> None:
    assert seconds(7.1) == Decimal("7.1")
    assert seconds(float("nan")) is None
    assert text("m" * MAX_TEXT) == "m" * MAX_TEXT
    assert text("m" * (MAX_TEXT + 1)) is None
    assert text("") is None
    assert text(5) is None


def test_openai_dialects() -> None:
    deepseek = {"prompt_tokens": 12, "completion_tokens": 2, "prompt_cache_hit_tokens": 8}
    assert openai_usage(deepseek) == Usage(input_tokens=12, output_tokens=2, cache_read_tokens=8)
    responses = {"input_tokens": 9, "output_tokens": 3,
                 "input_tokens_details": {"cached_tokens": 1, "cache_write_tokens": 2},
                 "output_tokens_details": {"reasoning_tokens": 1}}
    assert openai_usage(responses) == Usage(input_tokens=9, output_tokens=3, cache_read_tokens=1,
                                            cache_write_tokens=2, reasoning_tokens=1)
    assert openai_usage({"prompt_tokens": "9", "completion_tokens_details": []}) == Usage()


def test_anthropic_input_is_the_sum_of_present_parts() -> None:
    assert anthropic_usage({"cache_read_input_tokens": 5}).input_tokens == 5
    assert anthropic_usage({"output_tokens": 5}).input_tokens is None


def test_finish_sets_source_only_for_counts() -> None:
    assert finish(Usage(), model="m", response_id="r") == Usage(model="m", response_id="r")
    assert finish(Usage(output_tokens=0), model=None, response_id=None).source == "provider"


def test_merge_latest_ignores_nulls() -> None:
    assert merge_latest({"a": 1, "b": 2}, {"a": None, "b": 3, "c": 4}) == {"a": 1, "b": 3, "c": 4}
