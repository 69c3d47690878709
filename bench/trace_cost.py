"""CPU of tracing per request, piece by piece: ``python -m bench.trace_cost``.

The tracer's two seams on synthetic finished requests (admission: parse ``traceparent``, draw ids,
add the header; completion: build and encode both spans, queue them), the export thread's share
(joining a 512-span batch and POSTing it to a loopback sink), and, when the OpenTelemetry SDK is
installed (it is a dev dependency), what its OTLP encoder costs for the same two spans: the
reason ``proxy/tracing/otlp.py`` exists. Prints figures, asserts nothing; compare lines of one run.
``python -m bench.ab`` measures the whole sidecar with tracing on and off.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import threading
import time
from decimal import Decimal

from prometheus_client import CollectorRegistry

from proxy.config import load_settings
from proxy.identity import IdentityResolver
from proxy.pipeline.context import RequestContext, to_record
from proxy.record import RequestRecord
from proxy.routing import Router
from proxy.tracing import TracingSettings, otlp
from proxy.tracing.export import SpanBatcher
from proxy.tracing.spans import Tracer
from proxy.tracing.transport import OtlpHttp
from proxy.usage.base import Api, RequestFacts, Usage

_USAGE = Usage(input_tokens=412, output_tokens=96, cache_read_tokens=128, model="gpt-4o-mini-2024-07-18",
               response_id="chatcmpl-9XkVbq2hH1", source="provider")


class _Drop:
    def export(self, body: bytes) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def _requests(n: int, customers: int) -> list[tuple[RequestContext, RequestRecord]]:
    s = load_settings(None, {"LAVA_SECRET_KEY": "aks_test_bench"})
    router, ident = Router(s), IdentityResolver(s.identity)
    route = router.resolve("/v1/chat/completions")
    out = []
    for i in range(n):
        headers = {"x-lava-customer-id": f"cus_{i % customers}", "x-lava-meter": "chat-tokens",
                   "traceparent": f"00-{i + 1:032x}-{i + 1:016x}-01"}
        t0 = time.perf_counter()
        ctx = RequestContext(f"sc_0123456789ab{i:08x}", time.time(), t0, "POST", "/v1/chat/completions",
                             headers, "openai")
        ctx.route, ctx.resolved = route, ident.resolve(headers, None)
        ctx.facts = RequestFacts(api=Api.CHAT, model="gpt-4o-mini")
        ctx.upstream_at, ctx.received_at, ctx.status = t0 + 1e-4, t0 + 0.3, 200
        ctx.relay.first_byte_at = ctx.relay.headers_at = t0 + 0.301
        ctx.relay.upstream_done = ctx.relay.client_done = True
        ctx.usage, ctx.lava_request_id = _USAGE, f"req_01J{i:012d}"
        ctx.charge_usd = Decimal("0.000123")
        out.append((ctx, to_record(ctx, t0 + 0.8)))
    return out


def seams(n: int, customers: int) -> tuple[float, float, Tracer]:
    """CPU µs per request in admit and in complete."""
    batcher = SpanBatcher(_Drop(), CollectorRegistry(), resource=b"", scope=b"", max_queue_size=2 * n,
                          max_export_batch_size=2 * n, schedule_delay=3600)
    tracer = Tracer(TracingSettings(enabled=True), batcher, gateway_url="https://api.lava.so")
    reqs = _requests(n, customers)

    async def admit() -> float:
        t = time.process_time()
        for ctx, _ in reqs:
            await tracer.admit(ctx)
        return time.process_time() - t

    ta = asyncio.run(admit())
    t = time.process_time()
    for ctx, rec in reqs:
        tracer.complete(ctx, rec)
    tc = time.process_time() - t
    return ta / n * 1e6, tc / n * 1e6, tracer


def export_share(batch: list[bytes], rounds: int = 40) -> float:
    """Export-thread CPU µs per request (two spans) for ``batch`` POSTed to a loopback sink."""

    class Sink(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    ex = OtlpHttp(TracingSettings(enabled=True, endpoint=f"http://127.0.0.1:{port}/v1/traces"))
    res, scope = otlp.request_prefix({"service.name": "lava-sidecar"}, "lava-sidecar", "0.1.0")
    t = time.thread_time()
    for _ in range(rounds):
        ex.export(otlp.export_request(res, scope, batch))
    spent = time.thread_time() - t
    ex.shutdown()
    srv.shutdown()
    return spent / rounds / (len(batch) / 2) * 1e6


def sdk_encoder(batch_requests: int) -> float | None:
    """The SDK's ``encode_spans`` for equivalent spans: CPU µs per request (two spans)."""
    try:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
    except ImportError:
        return None
    res = Resource({"service.name": "lava-sidecar"})
    server_attrs = {"gen_ai.operation.name": "chat", "http.request.method": "POST",
                    "url.path": "/v1/chat/completions", "lava.outcome": "ok",
                    "lava.usage.source": "provider",
                    "lava.usage.partial": False, "lava.stream": False, "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": _USAGE.model or "",
                    "http.response.status_code": 200, "lava.customer.id": "cus_1",
                    "lava.meter": "chat-tokens",
                    "lava.sidecar.request_id": "sc_0123456789ab00000001",
                    "gen_ai.response.id": _USAGE.response_id or "", "lava.request_id": "req_01J000000000001",
                    "gen_ai.usage.input_tokens": 412, "gen_ai.usage.output_tokens": 96,
                    "gen_ai.usage.cache_read.input_tokens": 128, "lava.charge_usd": 0.000123}
    client_attrs = {"http.request.method": "POST", "server.address": "api.lava.so", "server.port": 443,
                    "http.response.status_code": 200, "lava.request_id": "req_01J000000000001"}
    spans = []
    for i in range(batch_requests):
        ctx = SpanContext(i + 1, 2 * i + 1, False, TraceFlags(1))
        spans.append(ReadableSpan("chat gpt-4o-mini", ctx, None, res, server_attrs, kind=SpanKind.SERVER,
                                  start_time=1, end_time=2))
        spans.append(ReadableSpan("POST", SpanContext(i + 1, 2 * i + 2, False, TraceFlags(1)), ctx, res,
                                  client_attrs, [Event("lava.response.headers", None, 1),
                                                 Event("lava.response.first_byte", None, 2)],
                                  kind=SpanKind.CLIENT, start_time=1, end_time=2))
    t = time.process_time()
    encode_spans(spans).SerializePartialToString()
    return (time.process_time() - t) / batch_requests * 1e6


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.trace_cost", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--customers", type=int, default=50)
    a = p.parse_args(argv)
    admit, complete, tracer = seams(a.requests, a.customers)
    batch = [tracer._batcher._queue.popleft() for _ in range(512)]
    print(f"admission (traceparent, ids, header)        {admit:6.1f} µs CPU/request")
    print(f"completion (two spans built, encoded, queued) {complete:6.1f} µs CPU/request")
    print(f"export thread (512-span POSTs to loopback)   {export_share(batch):6.1f} µs CPU/request")
    sdk = sdk_encoder(256)
    if sdk is not None:
        print(f"  for comparison, the SDK's OTLP encoder     {sdk:6.1f} µs CPU/request (encoding alone)")


if __name__ == "__main__":
    main()
