"""The tracer at the pipeline's seams: ids at admission, two finished spans at completion.

``admit`` (the admission seam) only reads the caller's ``traceparent``, draws the ids and adds the
``traceparent`` of the sidecar's client span to the request to Lava. ``complete`` (the completion
seam) builds both spans with explicit start and end times from the request's ``RequestRecord`` —
the record the usage log and the metrics get, so all three agree — and queues them for export:

    SERVER  "{gen_ai.operation.name} {gen_ai.request.model}"   child of the caller's span, if any
    └── CLIENT  "POST"  (the hop to Lava)                      events: response headers, first byte

No prompt, completion, header value or credential is ever an attribute. ``proxy.app`` imports this
module only when tracing is on: off, nothing of it is loaded or installed on the request path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Final
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry

from .. import __version__
from ..metrics.catalog import GENAI_OPERATION, GENAI_PROVIDER
from ..pipeline.context import RequestContext
from ..record import RequestRecord
from . import otlp
from .config import TracingSettings
from .export import SpanBatcher
from .transport import OtlpHttp
from .w3c import Parent, Sampling, new_span_id, new_trace_id, parse_traceparent, traceparent

log = logging.getLogger("lava_sidecar.tracing")

#: Headers the tracer consumes when it is on: the sidecar sends its own, never the caller's as is.
TRACE_HEADERS: Final = frozenset({"traceparent", "tracestate"})
#: Attribute strings from requests and responses (a model name, an id) are cut to this.
MAX_VALUE: Final = 256
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


class Tracer:
    """Both seams: an ``AdmissionHook`` and a ``CompletionHook`` (``pipeline/seams.py``)."""

    def __init__(self, cfg: TracingSettings, batcher: SpanBatcher, *, gateway_url: str,
                 charge_of: ChargeOf) -> None:
        self._batcher = batcher
        self._sampling = Sampling.of(cfg.sampler, cfg.sampler_ratio)
        self._charge_of = charge_of
        gw = urlsplit(gateway_url)
        self._gateway_attrs: dict[str, str | int] = {
            "server.address": gw.hostname or "",
            "server.port": gw.port or (443 if gw.scheme == "https" else 80)}

    @classmethod
    def open(cls, cfg: TracingSettings, registry: CollectorRegistry, *, gateway_url: str,
             charge_of: ChargeOf) -> Tracer:
        resource, scope = otlp.request_prefix(
            {"service.name": cfg.service_name, "service.version": __version__,
             "telemetry.sdk.language": "python", "telemetry.sdk.name": "lava-sidecar",
             **dict(cfg.resource_attributes)}, "lava-sidecar", __version__)
        batcher = SpanBatcher(OtlpHttp(cfg), registry, resource=resource, scope=scope,
                              max_queue_size=cfg.max_queue_size,
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
        parent = t.parent
        submit = self._batcher.submit
        submit(otlp.span(trace_id=t.trace_id, span_id=t.server_id,
                         parent_id=parent.span_id if parent is not None else None, name=name,
                         kind=otlp.KIND_SERVER, start_ns=start, end_ns=end, attributes=attrs,
                         error=error is not None,
                         trace_state=parent.tracestate if parent is not None else None))
        if ctx.upstream_at is None:  # nothing left for Lava: no hop to show
            return
        events: list[tuple[str, int]] = []
        if ctx.received_at is not None:
            events.append(("lava.response.headers", ns(ctx.received_at)))
        if ctx.relay.first_byte_at is not None:
            events.append(("lava.response.first_byte", ns(ctx.relay.first_byte_at)))
        client_error = rec.upstream_error or (str(ctx.status) if ctx.received_at is not None
                                              and ctx.status >= 400 else None)
        client_attrs: dict[str, otlp.AttrValue] = {"http.request.method": ctx.method,
                                                   **self._gateway_attrs}
        if ctx.received_at is not None:
            client_attrs["http.response.status_code"] = ctx.status
        if rec.lava_request_id:
            client_attrs["lava.request_id"] = _cap(rec.lava_request_id)
        if client_error:
            client_attrs["error.type"] = client_error
        submit(otlp.span(trace_id=t.trace_id, span_id=t.client_id, parent_id=t.server_id,
                         name=ctx.method, kind=otlp.KIND_CLIENT, start_ns=ns(ctx.upstream_at),
                         end_ns=end, attributes=client_attrs, events=events,
                         error=client_error is not None,
                         trace_state=parent.tracestate if parent is not None else None))

    def _server_attributes(self, ctx: RequestContext, rec: RequestRecord,
                           error: str | None) -> dict[str, otlp.AttrValue]:
        u = rec.usage
        attrs: dict[str, otlp.AttrValue] = {
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
