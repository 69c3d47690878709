"""Trace context parsing, formatting and sampling: the pure part that runs at admission."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proxy.tracing.w3c import (
    MAX_TRACESTATE,
    Parent,
    Sampling,
    bound_tracestate,
    parse_traceparent,
    traceparent,
)

TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN = 0x00F067AA0BA902B7


@given(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1), st.booleans())
def test_format_then_parse_is_identity(trace_id: int, span_id: int, sampled: bool) -> None:
    assert parse_traceparent(traceparent(trace_id, span_id, sampled)) == Parent(trace_id, span_id, sampled)


def test_the_spec_example_and_future_versions() -> None:
    assert parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == \
        Parent(TRACE, SPAN, True)
    # A later version may append fields after a dash; its first four parse as version 00's.
    assert parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what") == \
        Parent(TRACE, SPAN, True)
    assert parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03what") is None


@given(st.text(max_size=80))
def test_anything_else_is_none_or_valid(value: str) -> None:
    p = parse_traceparent(value)
    assert p is None or (p.trace_id and p.span_id and value[:2] != "ff")


def test_tracestate_only_with_a_valid_parent_and_bounded() -> None:
    assert parse_traceparent("garbage", "a=1") is None
    long = ",".join(f"k{i}=" + "v" * 40 for i in range(40))
    kept = bound_tracestate(long)
    assert kept is not None
    assert len(kept) <= MAX_TRACESTATE
    assert long.startswith(kept)
    assert kept.endswith("v")
    assert bound_tracestate("  ") is None


def test_sampling_rules() -> None:
    parent_on, parent_off = Parent(TRACE, SPAN, True), Parent(TRACE, SPAN, False)
    assert Sampling.of("parentbased_always_on", 1.0).sampled(TRACE, parent_off) is False
    assert Sampling.of("parentbased_always_off", 1.0).sampled(TRACE, parent_on) is True
    assert Sampling.of("parentbased_always_off", 1.0).sampled(TRACE, None) is False
    assert Sampling.of("always_on", 1.0).sampled(TRACE, parent_off) is True
    never = Sampling.of("traceidratio", 0.0)
    assert not any(never.sampled(t, None) for t in (1, 2**64 - 1, 2**128 - 1))
    half = Sampling.of("traceidratio", 0.5)
    # The low 64 bits decide, as the SDK's TraceIdRatioBased does.
    assert half.sampled((7 << 64) | 1, None)
    assert not half.sampled((7 << 64) | (2**64 - 1), None)


@given(st.floats(0.0, 1.0), st.integers(1, 2**128 - 1))
def test_ratio_decisions_match_the_sdk(rate: float, trace_id: int) -> None:
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

    sdk = TraceIdRatioBased(rate).should_sample(None, trace_id, "x").decision.is_sampled()
    assert Sampling.of("traceidratio", rate).sampled(trace_id, None) is sdk
