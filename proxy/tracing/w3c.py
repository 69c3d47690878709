"""W3C Trace Context (``traceparent``/``tracestate``), ids and the sampling decision: pure, no SDK.

This is all that runs while a request is admitted: a header parsed, two ids drawn, one header
formatted. A malformed ``traceparent`` starts a new trace and is never forwarded as it came; a
``tracestate`` travels only with a valid ``traceparent`` (the W3C rule) and is bounded.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Final

#: version-traceid-parentid-flags, lower-case hex only (upper case is invalid, W3C 3.2.2).
_TRACEPARENT: Final = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
#: W3C: vendors SHOULD propagate at least 512 characters; longer ones lose whole entries.
MAX_TRACESTATE: Final = 512
_TRACE_ID_LIMIT: Final = (1 << 64) - 1
SAMPLED: Final = 0x01


@dataclass(frozen=True, slots=True)
class Parent:
    """The caller's span, from a valid ``traceparent``."""

    trace_id: int
    span_id: int
    sampled: bool
    tracestate: str | None = None


def parse_traceparent(value: str | None, tracestate: str | None = None) -> Parent | None:
    """The caller's span, or ``None`` when the header is absent or malformed."""
    if value is None:
        return None
    m = _TRACEPARENT.match(value)
    if m is None:
        return None
    version, trace_hex, span_hex, flags_hex = m.groups()
    # Version 00 is exactly 55 characters; a later version may append "-…" fields; ff is invalid.
    if version == "ff" or (len(value) != 55 and (version == "00" or value[55] != "-")):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id:
        return None
    return Parent(trace_id, span_id, bool(int(flags_hex, 16) & SAMPLED), bound_tracestate(tracestate))


def bound_tracestate(value: str | None) -> str | None:
    """``tracestate`` kept whole up to ``MAX_TRACESTATE`` characters, else its leading entries."""
    if not value:
        return None
    value = value.strip()
    if len(value) <= MAX_TRACESTATE:
        return value or None
    kept: list[str] = []
    size = 0
    for entry in value.split(","):
        entry = entry.strip()
        if not entry:
            continue
        size += len(entry) + (1 if kept else 0)
        if size > MAX_TRACESTATE:
            break
        kept.append(entry)
    return ",".join(kept) or None


def traceparent(trace_id: int, span_id: int, sampled: bool) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


# Ids as the OpenTelemetry SDK draws them (RandomIdGenerator): not secrets, only unique.
_bits = random.getrandbits


def new_trace_id() -> int:
    while not (trace_id := _bits(128)):  # pragma: no cover - zero is a 2**-128 draw
        pass
    return trace_id


def new_span_id() -> int:
    while not (span_id := _bits(64)):  # pragma: no cover
        pass
    return span_id


@dataclass(frozen=True, slots=True)
class Sampling:
    """The ``OTEL_TRACES_SAMPLER`` rules, decided once per request at admission (the decision
    travels in the outgoing ``traceparent``'s flags)."""

    parent_based: bool
    #: The root decision: sample when the trace id's low 64 bits are below this (TraceIdRatioBased).
    bound: int

    @classmethod
    def of(cls, sampler: str, ratio: float) -> Sampling:
        root = sampler.removeprefix("parentbased_")
        rate = 1.0 if root == "always_on" else 0.0 if root == "always_off" else ratio
        return cls(sampler.startswith("parentbased_"), round(rate * (_TRACE_ID_LIMIT + 1)))

    def sampled(self, trace_id: int, parent: Parent | None) -> bool:
        if parent is not None and self.parent_based:
            return parent.sampled
        return (trace_id & _TRACE_ID_LIMIT) < self.bound
