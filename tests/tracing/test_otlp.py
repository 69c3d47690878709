"""The hand-written OTLP encoder against the OpenTelemetry SDK's own: the same spans encode to the
same ``ExportTraceServiceRequest`` (compared as decoded protobuf messages, field by field)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from proxy.tracing import otlp

RESOURCE = {"service.name": "lava-sidecar", "service.version": "0.1.0", "k8s.pod.name": "p-1"}
SCOPE = ("lava-sidecar", "0.1.0")

values = st.one_of(st.text(max_size=300), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                   st.floats(allow_nan=False), st.lists(st.text(max_size=20), max_size=3))
attributes = st.dictionaries(st.sampled_from([*sorted(otlp.REPEATING), "lava.request_id", "x"]), values,
                             max_size=12)


def ours(**span: Any) -> ExportTraceServiceRequest:
    res, scope = otlp.request_prefix(RESOURCE, *SCOPE)
    msg = ExportTraceServiceRequest()
    msg.ParseFromString(otlp.export_request(res, scope, [otlp.span(**span)]))
    return msg


def sdks(*, trace_id: int, span_id: int, parent_id: int | None, name: str, kind: int, start_ns: int,
         end_ns: int, attributes: dict[str, Any], events: list[tuple[str, int]], error: bool,
         trace_state: str | None) -> ExportTraceServiceRequest:
    state = TraceState([tuple(p.split("=", 1)) for p in trace_state.split(",")]) if trace_state else None
    parent = SpanContext(trace_id, parent_id, kind == otlp.KIND_SERVER, TraceFlags(1)) \
        if parent_id is not None else None
    span = ReadableSpan(
        name, SpanContext(trace_id, span_id, False, TraceFlags(1), state), parent,
        Resource(RESOURCE), attributes, [Event(n, None, t) for n, t in events], (),
        SpanKind.SERVER if kind == otlp.KIND_SERVER else SpanKind.CLIENT, None,
        Status(StatusCode.ERROR) if error else Status(StatusCode.UNSET), start_ns, end_ns,
        InstrumentationScope(*SCOPE))
    msg = ExportTraceServiceRequest()
    msg.ParseFromString(encode_spans([span]).SerializeToString())
    return msg


@given(trace_id=st.integers(1, 2**128 - 1), span_id=st.integers(1, 2**64 - 1),
       parent_id=st.none() | st.integers(1, 2**64 - 1), name=st.text(max_size=40),
       kind=st.sampled_from([otlp.KIND_SERVER, otlp.KIND_CLIENT]), start_ns=st.integers(0, 2**63),
       duration=st.integers(0, 10**12), attributes=attributes,
       events=st.lists(st.tuples(st.text(max_size=30), st.integers(0, 2**63)), max_size=3),
       error=st.booleans(), trace_state=st.none() | st.just("vendor=abc,other=1"))
def test_same_message_as_the_sdk(trace_id: int, span_id: int, parent_id: int | None, name: str,
                                 kind: int, start_ns: int, duration: int, attributes: dict[str, Any],
                                 events: list[tuple[str, int]], error: bool,
                                 trace_state: str | None) -> None:
    span = {"trace_id": trace_id, "span_id": span_id, "parent_id": parent_id, "name": name, "kind": kind,
            "start_ns": start_ns, "end_ns": min(start_ns + duration, 2**64 - 1),
            "attributes": attributes, "events": events, "error": error, "trace_state": trace_state}
    assert ours(**span) == sdks(**span)


def test_repeated_values_come_from_the_cache_and_stay_correct() -> None:
    span = {"trace_id": 1, "span_id": 2, "parent_id": None, "name": "chat m", "kind": otlp.KIND_SERVER,
            "start_ns": 1, "end_ns": 2, "events": [], "error": False, "trace_state": None}
    first = ours(attributes={"lava.customer.id": "cus_a", "lava.stream": True}, **span)
    again = ours(attributes={"lava.customer.id": "cus_a", "lava.stream": True}, **span)
    other = ours(attributes={"lava.customer.id": "cus_b", "lava.stream": False}, **span)
    assert first == again
    attrs = other.resource_spans[0].scope_spans[0].spans[0].attributes
    assert [(a.key, a.value.WhichOneof("value")) for a in attrs] == \
        [("lava.customer.id", "string_value"), ("lava.stream", "bool_value")]
    assert attrs[0].value.string_value == "cus_b"
    assert attrs[1].value.bool_value is False


def test_equal_values_of_different_types_do_not_share_an_encoding() -> None:
    span = {"trace_id": 1, "span_id": 2, "parent_id": None, "name": "n", "kind": otlp.KIND_SERVER,
            "start_ns": 1, "end_ns": 2, "events": [], "error": False, "trace_state": None}
    kinds = []
    for v in (True, 1, 1.0):
        msg = ours(attributes={"lava.stream": v}, **span)
        kinds.append(msg.resource_spans[0].scope_spans[0].spans[0].attributes[0].value.WhichOneof("value"))
    assert kinds == ["bool_value", "int_value", "double_value"]
