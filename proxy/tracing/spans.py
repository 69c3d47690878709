"""The tracer at the pipeline's seams: ids at admission, two finished spans at completion.

``admit`` (the admission seam) only reads the caller's ``traceparent``, draws the ids and adds the
``traceparent`` of the sidecar's client span to the request to Lava. ``complete`` (the completion
seam) builds both spans with explicit start and end times from the request's ``RequestRecord`` —
the record the usage log and the metrics get, so all three agree — and queues them for export:

    SERVER  "{gen_ai.operation.name} {gen_ai.request.model}"   child of the caller's span, if any
    └── CLIENT  "POST"  (the hop to Lava)                      events: response headers, first byte

No prompt, completion, header value or credential is ever an attribute. This module imports the
OpenTelemetry SDK: ``proxy.app`` imports it only when tracing is on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Final
from urllib.parse import urlsplit

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from prometheus_client import CollectorRegistry

from .. import __version__
from ..metrics.catalog import GENAI_OPERATION, GENAI_PROVIDER
from ..pipeline.context import RequestContext
from ..record import RequestRecord
from .config import TracingSettings
from .export import SpanBatcher
from .w3c import Parent, Sampling, new_span_id, new_trace_id, parse_traceparent, traceparent

log = logging.getLogger("lava_sidecar.tracing")

#: Headers the tracer consumes when it is on: the sidecar sends its own, never the caller's as is.
TRACE_HEADERS: Final = frozenset({"traceparent", "tracestate"})
#: Attribute strings from requests and responses (a model name, an id) are cut to this.
MAX_VALUE: Final = 256
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)
_ERROR: Final = Status(StatusCode.ERROR)
_UNSET: Final = Status(StatusCode.UNSET)
_KEY: Final = object()
#: ``Recorder.charge_of``: the charge the recorder estimated for this record.
ChargeOf = Callable[[RequestRecord], Decimal | None]


class _Trace:
    """One request's trace ids, kept on the context between the two seams."""

    __slots__ = ("client_id", "parent", "sampled", "server_id", "trace_id")

    def __init__(self, trace_id: int, server_id: int, client_id: int, parent: Parent | None,
                 sampled: bool) -> None:
        self.trace_id, self.server_id, self.client_id = trace_id, server_id, client_id
        self.parent, self.sampled = parent, sampled


def _cap(value: str) -> str:
    return value if len(value) <= MAX_VALUE else value[:MAX_VALUE]


class _Otlp:
    """``OTLPSpanExporter`` as ``export.Exporter``: a bool per batch."""

    __slots__ = ("_exporter",)

    def __init__(self, exporter: OTLPSpanExporter) -> None:
        self._exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> bool:
        return self._exporter.export(spans) is SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._exporter.shutdown()  # type: ignore[no-untyped-call]


class Tracer:
    """Both seams: an ``AdmissionHook`` and a ``CompletionHook`` (``pipeline/seams.py``)."""

    def __init__(self, cfg: TracingSettings, batcher: SpanBatcher, *, gateway_url: str,
                 charge_of: ChargeOf) -> None:
        self._batcher = batcher
        self._sampling = Sampling.of(cfg.sampler, cfg.sampler_ratio)
        self._charge_of = charge_of
        self._resource = Resource({"service.name": cfg.service_name, "service.version": __version__,
                                   "telemetry.sdk.language": "python",
                                   **dict(cfg.resource_attributes)})
        self._scope = InstrumentationScope("lava-sidecar", __version__)
        gw = urlsplit(gateway_url)
        self._gateway_attrs: dict[str, str | int] = {
            "server.address": gw.hostname or "",
            "server.port": gw.port or (443 if gw.scheme == "https" else 80)}

    @classmethod
    def open(cls, cfg: TracingSettings, registry: CollectorRegistry, *, gateway_url: str,
             charge_of: ChargeOf) -> Tracer:
        exporter = OTLPSpanExporter(endpoint=cfg.endpoint, timeout=cfg.export_timeout,
                                    headers={n: v.reveal() for n, v in cfg.headers})
        # The exporter logs every retry; the sidecar logs failures itself, throttled, and counts them.
        logging.getLogger("opentelemetry.exporter").setLevel(logging.ERROR)
        batcher = SpanBatcher(_Otlp(exporter), registry, max_queue_size=cfg.max_queue_size,
                              max_export_batch_size=cfg.max_export_batch_size,
                              schedule_delay=cfg.schedule_delay)
        batcher.start()
        return cls(cfg, batcher, gateway_url=gateway_url, charge_of=charge_of)

    def shutdown(self, timeout: float) -> None:
        """Flush within ``timeout`` seconds (blocking: call it in a thread)."""
        self._batcher.shutdown(timeout)

    # -- admission: ids only ------------------------------------------------------------------

    async def admit(self, ctx: RequestContext) -> None:
        self._begin(ctx)

    def _begin(self, ctx: RequestContext) -> _Trace:
        headers = ctx.headers
        parent = parse_traceparent(headers.get("traceparent"), headers.get("tracestate"))
        trace_id = parent.trace_id if parent is not None else new_trace_id()
        sampled = self._sampling.sampled(trace_id, parent)
        t = _Trace(trace_id, new_span_id(), new_span_id(), parent, sampled)
        ctx.attach(_KEY, t)
        ctx.upstream_headers.append(("traceparent", traceparent(trace_id, t.client_id, sampled)))
        if parent is not None and parent.tracestate is not None:
            ctx.upstream_headers.append(("tracestate", parent.tracestate))
        return t

    # -- completion: the spans ------------------------------------------------------------------

    def complete(self, ctx: RequestContext, rec: RequestRecord) -> None:
        t = ctx.attached(_KEY)
        if not isinstance(t, _Trace):  # refused before the admission hooks ran (identity, route)
            t = self._begin(ctx)
        if not t.sampled:
            return
        base = ctx.started_at - ctx.t0  # perf_counter → unix seconds

        def ns(perf: float) -> int:
            return int((base + perf) * 1e9)

        start, end = int(ctx.started_at * 1e9), ns(ctx.t0 + rec.duration)
        error = _error_type(rec)
        attrs = self._server_attributes(ctx, rec, error)
        op = attrs["gen_ai.operation.name"]
        model = attrs.get("gen_ai.request.model")
        name = f"{op} {model}" if model else str(op)
        trace_id = t.trace_id
        parent = t.parent
        server_ctx = SpanContext(trace_id, t.server_id, False, _SAMPLED)
        parent_ctx = SpanContext(trace_id, parent.span_id, True, _SAMPLED if parent.sampled
                                 else TraceFlags(0)) if parent is not None else None
        self._batcher.submit(ReadableSpan(
            name, server_ctx, parent_ctx, self._resource, attrs, (), (), SpanKind.SERVER,
            None, _ERROR if error else _UNSET, start, end, self._scope))
        if ctx.upstream_at is None:  # nothing left for Lava: no hop to show
            return
        events: list[Event] = []
        if ctx.received_at is not None:
            events.append(Event("lava.response.headers", None, ns(ctx.received_at)))
        if ctx.relay.first_byte_at is not None:
            events.append(Event("lava.response.first_byte", None, ns(ctx.relay.first_byte_at)))
        client_error = rec.upstream_error or (str(ctx.status) if ctx.received_at is not None
                                              and ctx.status >= 400 else None)
        client_attrs: dict[str, str | int] = {"http.request.method": ctx.method, **self._gateway_attrs}
        if ctx.received_at is not None:
            client_attrs["http.response.status_code"] = ctx.status
        if rec.lava_request_id:
            client_attrs["lava.request_id"] = _cap(rec.lava_request_id)
        if client_error:
            client_attrs["error.type"] = client_error
        self._batcher.submit(ReadableSpan(
            ctx.method, SpanContext(trace_id, t.client_id, False, _SAMPLED), server_ctx,
            self._resource, client_attrs, events, (), SpanKind.CLIENT, None,
            _ERROR if client_error else _UNSET, ns(ctx.upstream_at), end, self._scope))

    def _server_attributes(self, ctx: RequestContext, rec: RequestRecord,
                           error: str | None) -> dict[str, str | int | float | bool | Sequence[str]]:
        u = rec.usage
        attrs: dict[str, str | int | float | bool | Sequence[str]] = {
            "gen_ai.operation.name": GENAI_OPERATION.get(rec.api, rec.api.value),
            "http.request.method": ctx.method,
            "url.path": _cap(ctx.path.partition("?")[0]),
            "lava.sidecar.request_id": rec.request_id,
            "lava.outcome": rec.outcome,
            "lava.usage.source": u.source,
            "lava.usage.partial": rec.partial,
            "lava.stream": rec.stream,
        }
        if rec.provider:
            attrs["gen_ai.provider.name"] = GENAI_PROVIDER.get(rec.provider, rec.provider)
        if ctx.facts.model:
            attrs["gen_ai.request.model"] = _cap(ctx.facts.model)
        elif rec.model:
            attrs["gen_ai.request.model"] = _cap(rec.model)
        if u.model:
            attrs["gen_ai.response.model"] = _cap(u.model)
        if u.response_id:
            attrs["gen_ai.response.id"] = _cap(u.response_id)
        for key, value in (("gen_ai.usage.input_tokens", u.input_tokens),
                           ("gen_ai.usage.output_tokens", u.output_tokens),
                           ("gen_ai.usage.cache_read.input_tokens", u.cache_read_tokens),
                           ("gen_ai.usage.cache_creation.input_tokens", u.cache_write_tokens),
                           ("gen_ai.usage.reasoning.output_tokens", u.reasoning_tokens)):
            if value is not None:
                attrs[key] = value
        if rec.status:
            attrs["http.response.status_code"] = rec.status
        if error:
            attrs["error.type"] = error
        if rec.customer_id:
            attrs["lava.customer.id"] = rec.customer_id
        if rec.meter_slug:
            attrs["lava.meter"] = rec.meter_slug
        if rec.lava_request_id:
            attrs["lava.request_id"] = _cap(rec.lava_request_id)
        charge = self._charge_of(rec)
        if charge is not None:
            attrs["lava.charge_usd"] = float(charge)
        return attrs


def _error_type(rec: RequestRecord) -> str | None:
    """As the GenAI duration metric's ``error.type`` has it (``metrics/catalog.py``)."""
    if rec.outcome == "ok" and rec.status < 400:
        return None
    return rec.error_code or rec.upstream_error or (str(rec.status) if rec.outcome == "ok"
                                                     else rec.outcome)
