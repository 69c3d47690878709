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

from typing import Final, TypeVar
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry

from .. import __version__
from ..metrics.catalog import GENAI_OPERATION, GENAI_PROVIDER
from ..pipeline.context import RequestContext
from ..record import RequestRecord
from ..usage.base import Api
from . import otlp
from .config import TracingSettings
from .export import SpanBatcher
from .transport import OtlpHttp
from .w3c import Parent, Sampling, new_span_id, new_trace_id, parse_traceparent, traceparent

#: Headers the tracer consumes when it is on: the sidecar sends its own, never the caller's as is.
TRACE_HEADERS: Final = frozenset({"traceparent", "tracestate"})
#: Attribute strings from requests and responses (a model name, an id) are cut to this.
MAX_VALUE: Final = 256
_KEY: Final = object()
#: Distinct attribute combinations whose encodings are kept (cleared when full).
MAX_GROUPS: Final = 4096
_ServerKey = tuple[Api, str, str, str, str, str, bool, bool, str | None, str | None, int, str | None,
                   str | None, str | None]
_K = TypeVar("_K")


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

    def __init__(self, cfg: TracingSettings, batcher: SpanBatcher, *, gateway_url: str) -> None:
        self._batcher = batcher
        self._sampling = Sampling.of(cfg.sampler, cfg.sampler_ratio)
        self._server_groups: dict[_ServerKey, tuple[bytes, bytes]] = {}
        self._client_groups: dict[tuple[str, int, str | None], tuple[bytes, bytes]] = {}
        gw = urlsplit(gateway_url)
        self._gateway_attrs: dict[str, str | int] = {
            "server.address": gw.hostname or "",
            "server.port": gw.port or (443 if gw.scheme == "https" else 80)}

    @classmethod
    def open(cls, cfg: TracingSettings, registry: CollectorRegistry, *, gateway_url: str) -> Tracer:
        resource, scope = otlp.request_prefix(
            {"service.name": cfg.service_name, "service.version": __version__,
             "telemetry.sdk.language": "python", "telemetry.sdk.name": "lava-sidecar",
             **dict(cfg.resource_attributes)}, "lava-sidecar", __version__)
        batcher = SpanBatcher(OtlpHttp(cfg), registry, resource=resource, scope=scope,
                              max_queue_size=cfg.max_queue_size,
                              max_export_batch_size=cfg.max_export_batch_size,
                              schedule_delay=cfg.schedule_delay)
        batcher.start()
        return cls(cfg, batcher, gateway_url=gateway_url)

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
        end = int((base + ctx.t0 + rec.duration) * 1e9)
        u = rec.usage
        error = _error_type(rec)
        # Most attributes repeat from request to request (one model, one customer...): encoded once
        # per combination, then reused whole; only the per-request ones are encoded each time.
        key = (rec.api, rec.provider, ctx.method, ctx.path, rec.outcome, u.source, rec.partial,
               rec.stream, ctx.facts.model or rec.model, u.model, rec.status, error, rec.customer_id,
               rec.meter_slug)
        group = self._server_groups.get(key)
        if group is None:
            group = self._server_group(key)
        attrs: dict[str, otlp.AttrValue] = {"lava.sidecar.request_id": rec.request_id}
        if u.response_id:
            attrs["gen_ai.response.id"] = _cap(u.response_id)
        if rec.lava_request_id:
            attrs["lava.request_id"] = _cap(rec.lava_request_id)
        if u.source != "missing":
            for name, value in (("gen_ai.usage.input_tokens", u.input_tokens),
                                ("gen_ai.usage.output_tokens", u.output_tokens),
                                ("gen_ai.usage.cache_read.input_tokens", u.cache_read_tokens),
                                ("gen_ai.usage.cache_creation.input_tokens", u.cache_write_tokens),
                                ("gen_ai.usage.reasoning.output_tokens", u.reasoning_tokens)):
                if value is not None:
                    attrs[name] = value
        charge = ctx.charge_usd  # the recorder's estimate, the usage log's number
        if charge is not None:
            attrs["lava.charge_usd"] = float(charge)
        parent = t.parent
        parent_id, state = (parent.span_id, parent.tracestate) if parent is not None else (None, None)
        submit = self._batcher.submit
        submit(otlp.span(trace_id=t.trace_id, span_id=t.server_id, parent_id=parent_id, name=group[0],
                         kind=otlp.KIND_SERVER, start_ns=int(ctx.started_at * 1e9), end_ns=end,
                         attributes=attrs, encoded=group[1], error=error is not None,
                         trace_state=state))
        upstream_at = ctx.upstream_at
        if upstream_at is None:  # nothing left for Lava: no hop to show
            return
        events: list[tuple[str, int]] = []
        received = ctx.received_at
        status = ctx.status if received is not None else 0
        if received is not None:
            events.append(("lava.response.headers", int((base + received) * 1e9)))
        if ctx.relay.first_byte_at is not None:
            events.append(("lava.response.first_byte", int((base + ctx.relay.first_byte_at) * 1e9)))
        client_error = rec.upstream_error or (str(status) if status >= 400 else None)
        ckey = (ctx.method, status, client_error)
        cgroup = self._client_groups.get(ckey)
        if cgroup is None:
            cgroup = self._client_group(ckey)
        submit(otlp.span(trace_id=t.trace_id, span_id=t.client_id, parent_id=t.server_id,
                         name=cgroup[0], kind=otlp.KIND_CLIENT, start_ns=int((base + upstream_at) * 1e9),
                         end_ns=end, attributes={"lava.request_id": _cap(rec.lava_request_id)}
                         if rec.lava_request_id else {}, encoded=cgroup[1], events=events,
                         error=client_error is not None, trace_state=state))

    def _server_group(self, key: _ServerKey) -> tuple[bytes, bytes]:
        """The span name and the encoded attributes that ``key`` determines."""
        api, provider, method, path, outcome, source, partial, stream, model, response_model, \
            status, error, customer, meter = key
        op = GENAI_OPERATION.get(api, api.value)
        attrs: dict[str, otlp.AttrValue] = {
            "gen_ai.operation.name": op,
            "http.request.method": method,
            "url.path": _cap(path.partition("?")[0]),
            "lava.outcome": outcome,
            "lava.usage.source": source,
            "lava.usage.partial": partial,
            "lava.stream": stream,
        }
        if provider:
            attrs["gen_ai.provider.name"] = GENAI_PROVIDER.get(provider, provider)
        if model:
            attrs["gen_ai.request.model"] = _cap(model)
        if response_model:
            attrs["gen_ai.response.model"] = _cap(response_model)
        if status:
            attrs["http.response.status_code"] = status
        if error:
            attrs["error.type"] = error
        if customer:
            attrs["lava.customer.id"] = customer
        if meter:
            attrs["lava.meter"] = meter
        group = ((f"{op} {_cap(model)}" if model else op).encode(), otlp.attributes(attrs))
        _remember(self._server_groups, key, group)
        return group

    def _client_group(self, key: tuple[str, int, str | None]) -> tuple[bytes, bytes]:
        method, status, error = key
        attrs: dict[str, otlp.AttrValue] = {"http.request.method": method, **self._gateway_attrs}
        if status:
            attrs["http.response.status_code"] = status
        if error:
            attrs["error.type"] = error
        group = (method.encode(), otlp.attributes(attrs))
        _remember(self._client_groups, key, group)
        return group


def _remember(cache: dict[_K, tuple[bytes, bytes]], key: _K, value: tuple[bytes, bytes]) -> None:
    if len(cache) >= MAX_GROUPS:
        cache.clear()
    cache[key] = value


def _error_type(rec: RequestRecord) -> str | None:
    """As the GenAI duration metric's ``error.type`` has it (``metrics/catalog.py``)."""
    if rec.outcome == "ok" and rec.status < 400:
        return None
    return rec.error_code or rec.upstream_error or (
        str(rec.status) if rec.outcome in ("ok", "upstream_refused") else rec.outcome)
