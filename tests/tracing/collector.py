"""A real OTLP/HTTP trace receiver on loopback: ``POST /v1/traces`` with an
``ExportTraceServiceRequest`` protobuf body (gzip or not), decoded with ``opentelemetry-proto`` —
the collector's wire format, not a mock of the sidecar's exporter. ``mode`` makes it answer 500,
stall past the exporter's timeout, or answer its first POST 503 (retryable)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from ..loopback import serving

Mode = Literal["ok", "error", "stall", "busy_once"]


def value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


@dataclass(slots=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int  # SPAN_KIND_SERVER = 2, SPAN_KIND_CLIENT = 3
    start_ns: int
    end_ns: int
    status_code: int  # 0 unset, 2 error
    attributes: dict[str, Any]
    events: list[tuple[str, int]]
    resource: dict[str, Any]
    scope: str


@dataclass(slots=True)
class Collector:
    url: str = ""  # http://127.0.0.1:PORT/v1/traces
    mode: Mode = "ok"
    spans: list[Span] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)  # each POST's headers
    bodies: list[bytes] = field(default_factory=list)
    posts: int = 0
    encodings: list[str | None] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.posts += 1
        if self.mode == "stall":
            await asyncio.sleep(3600)
        if self.mode == "error":
            return web.Response(status=500, text="collector broke")
        if self.mode == "busy_once" and self.posts == 1:  # retryable, with the wait it asks for
            return web.Response(status=503, headers={"Retry-After": "0.1"})
        self.encodings.append(request.headers.get("Content-Encoding"))
        body = await request.read()
        # aiohttp already inflates a gzip request body; inflate here only if it did not.
        if request.headers.get("Content-Encoding") == "gzip" and body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        self.bodies.append(body)
        self.requests.append(dict(request.headers))
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        for rs in req.resource_spans:
            resource = {a.key: value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    self.spans.append(Span(
                        s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.kind,
                        s.start_time_unix_nano, s.end_time_unix_nano, s.status.code,
                        {a.key: value(a.value) for a in s.attributes},
                        [(e.name, e.time_unix_nano) for e in s.events], resource, ss.scope.name))
        self._changed.set()
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    async def wait(self, n: int, within: float = 10.0) -> list[Span]:
        """Until at least ``n`` spans arrived."""
        async with asyncio.timeout(within):
            while len(self.spans) < n:
                self._changed.clear()
                await self._changed.wait()
        return self.spans

    def by_kind(self, kind: int) -> list[Span]:
        return [s for s in self.spans if s.kind == kind]


SERVER, CLIENT = 2, 3


@asynccontextmanager
async def running_collector(mode: Mode = "ok") -> AsyncIterator[Collector]:
    col = Collector(mode=mode)
    app = web.Application()
    app.router.add_post("/v1/traces", col.handle)
    async with serving(app) as url:
        col.url = url + "/v1/traces"
        yield col
