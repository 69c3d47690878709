"""The fake upstream: Lava's forward endpoint and the OpenAI chat and Gemini APIs behind it, in one
fast process.

A raw uvloop + httptools protocol (~10 us of CPU per request) so it is never the bottleneck. Every
target gets the same bytes: direct and nginx at ``/v1/chat/completions`` (or Gemini's
``/v1beta/models/{model}:streamGenerateContent?alt=sse``), the sidecar at
``/v1/forward?u=<encoded provider URL>`` (Bearer token required, ``u`` decoded and checked; a
Gemini key, as a header or in ``u``'s query, is refused: the sidecar must drop it).
Streams are paced by absolute-time timers, so 1,000 open streams cost one timer each.
Run: ``python -m bench.upstream --port 0``; prints ``READY <port>`` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import re
import signal
import sys
from dataclasses import asdict, dataclass, field
from typing import cast
from urllib.parse import parse_qs, urlsplit

import httptools
import uvloop

from . import payloads

_STREAM_RE = re.compile(rb'"stream"\s*:\s*true')
_USAGE_RE = re.compile(rb'"include_usage"\s*:\s*true')
#: Google's host and the streaming method's path: what a Gemini ``u=`` must name.
_GEMINI_HOST = "generativelanguage.googleapis.com"
_GEMINI_STREAM_RE = re.compile(r"/v1(?:beta|alpha)?/models/[A-Za-z0-9._-]{1,128}:streamGenerateContent")
_MAX_BODY = 1 << 20
_CACHE_MAX = 1024


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _response(status: str, ctype: bytes, body: bytes) -> bytes:
    return (b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: " + ctype +
            b"\r\nx-lava-request-id: req_bench\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n\r\n" + body)


def _error(status: str, message: str) -> bytes:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
    return _response(status, b"application/json", body)


_SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
             b"Cache-Control: no-cache\r\nx-lava-request-id: req_bench\r\nTransfer-Encoding: chunked\r\n\r\n")


#: Google's headers on a streamGenerateContent answer (the recordings'), and Lava's request id.
_GEMINI_SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Content-Disposition: attachment\r\nVary: Origin\r\nVary: X-Origin\r\n"
                    b"Vary: Referer\r\nServer: scaffolding on HTTPServer2\r\n"
                    b"X-Content-Type-Options: nosniff\r\nX-Frame-Options: SAMEORIGIN\r\n"
                    b"X-XSS-Protection: 0\r\nx-lava-request-id: req_bench\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n")


def _wire(script: payloads.StreamScript, head: bytes = _SSE_HEAD) -> tuple[bytes, ...]:
    """The script's writes as HTTP/1.1 chunks; headers ride on the first, the terminator on the last."""
    out = [_http_chunk(w) for w in script.writes]
    out[0] = head + out[0]
    out[-1] += b"0\r\n\r\n"
    return tuple(out)


@dataclass(slots=True)
class Counters:
    connections: int = 0
    requests: int = 0
    forwarded: int = 0
    streams: int = 0
    gemini_streams: int = 0  # of ``streams``, Gemini's streamGenerateContent
    streams_open: int = 0
    streams_open_max: int = 0
    rejected: int = 0
    trace_exports: int = 0  # OTLP/HTTP POSTs from the traced sidecar (bench target sidecar-traced)
    reasons: dict[str, int] = field(default_factory=dict)
    #: The first few rejected requests (method and path, never headers), to tell who sent them.
    rejected_samples: list[str] = field(default_factory=list)


class Fake:
    """What every connection shares: the prebuilt bytes, pacing, counters and small caches."""

    def __init__(self, interval: float, hold_interval: float, hold_chunks: int,
                 fast_interval: float = 0.002) -> None:
        self.interval, self.hold_interval = interval, hold_interval
        #: Pacing of ``payloads.FAST_MODEL`` streams (the stream-CPU phase).
        self.fast_interval = fast_interval
        self.json_reply = _response("200 OK", b"application/json", payloads.chat_json())
        models = (payloads.MODEL, payloads.HOLD_MODEL, payloads.FAST_MODEL)
        self.models_reply = _response("200 OK", b"application/json", json.dumps(
            {"object": "list", "data": [{"id": m, "object": "model", "created": 1, "owned_by": "bench"}
                                        for m in models]}).encode())
        self.scripts = {
            (hold, usage): _wire(payloads.stream_script(
                payloads.hold_tokens(hold_chunks) if hold else payloads.STREAM_TOKENS,
                include_usage=usage))
            for hold in (False, True) for usage in (False, True)}
        #: Gemini's stream (paced ``fast_interval``: only the stream-CPU phase asks for it).
        self.gemini_script = _wire(payloads.gemini_stream_script(payloads.STREAM_TOKENS),
                                   _GEMINI_SSE_HEAD)
        # An empty ExportTraceServiceResponse: zero protobuf bytes.
        self.traces_reply = _response("200 OK", b"application/x-protobuf", b"")
        self.counters = Counters()
        self._targets: dict[bytes, str | None] = {}
        self._tokens: dict[bytes, bool] = {}

    def reject(self, reason: str, what: str) -> None:
        c = self.counters
        c.rejected += 1
        c.reasons[reason] = c.reasons.get(reason, 0) + 1
        if len(c.rejected_samples) < 10:
            c.rejected_samples.append(f"{reason}: {what[:200]}")

    def forward_target(self, query: bytes) -> str | None:
        """What ``u=`` names: ``"chat"`` (an https chat/completions URL), ``"gemini"`` (Google's
        streamGenerateContent with ``alt=sse`` and no ``key``: the sidecar must have dropped the
        app's key), or None (cached: the load repeats the same one)."""
        if query in self._targets:
            return self._targets[query]
        values = parse_qs(query.decode("latin-1")).get("u", [])
        parts = urlsplit(values[0]) if len(values) == 1 else None
        kind: str | None = None
        if parts is not None and parts.scheme == "https" and parts.hostname:
            if parts.path.endswith("/chat/completions"):
                kind = "chat"
            elif parts.hostname == _GEMINI_HOST and _gemini_stream_ok(parts.path, parts.query):
                kind = "gemini"
        if len(self._targets) < _CACHE_MAX:
            self._targets[query] = kind
        return kind

    def token_ok(self, auth: bytes) -> bool:
        """A Bearer forward token: base64 JSON with a test merchant key and a customer + meter."""
        ok = self._tokens.get(auth)
        if ok is None:
            ok = False
            if auth.startswith(b"Bearer ") and len(auth) < 4096:
                try:
                    doc = json.loads(base64.b64decode(auth[7:], validate=True))
                    ok = isinstance(doc, dict) and str(doc.get("secret_key", "")).startswith("aks_test_") \
                        and bool(doc.get("customer_id")) and bool(doc.get("meter_slug"))
                except (binascii.Error, ValueError):
                    ok = False
            if len(self._tokens) < _CACHE_MAX:
                self._tokens[auth] = ok
        return ok


def _gemini_stream_ok(path: str, query: str) -> bool:
    """Google's streaming method with ``alt=sse`` (the bench never asks for the JSON-array form)
    and no ``key`` (a credential that must never leave the app's side of the sidecar)."""
    params = parse_qs(query)
    return _GEMINI_STREAM_RE.fullmatch(path) is not None and params.get("alt") == ["sse"] \
        and "key" not in params


class Conn(asyncio.Protocol):
    __slots__ = ("_auth", "_body", "_close", "_goog_key", "_handle", "_loop", "_parser", "_step",
                 "_t0", "_transport", "_url", "_writes", "fake")

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url, self._auth, self._body = b"", b"", bytearray()
        self._goog_key = False
        self._handle: asyncio.TimerHandle | None = None
        self._writes: tuple[bytes, ...] = ()
        self._step, self._t0, self._close = 0, 0.0, False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.fake.counters.connections += 1

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.fake.reject("bad_http", repr(data[:80]))
            if self._transport is not None:
                self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_stream()
        self._transport = None

    def on_message_begin(self) -> None:
        self._url, self._auth, self._goog_key = b"", b"", False
        self._body.clear()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower == b"authorization":
            self._auth = value
        elif lower == b"x-goog-api-key":
            self._goog_key = True

    def on_body(self, body: bytes) -> None:
        if len(self._body) + len(body) <= _MAX_BODY:
            self._body += body

    def on_message_complete(self) -> None:
        fake, transport = self.fake, self._transport
        if transport is None:
            return
        fake.counters.requests += 1
        self._close = not self._parser.should_keep_alive()
        path, _, query = self._url.partition(b"?")
        what = f"{self._parser.get_method().decode()} {path.decode('latin-1')}"
        reply: bytes | None = None
        gemini = False
        if path == b"/v1/forward":
            fake.counters.forwarded += 1
            kind = fake.forward_target(query)
            if not fake.token_ok(self._auth):
                fake.reject("token", what)
                reply = _error("401 Unauthorized", "missing or invalid forward token")
            elif self._goog_key:
                fake.reject("credential", what)
                reply = _error("400 Bad Request", "an app's x-goog-api-key reached Lava's forward")
            elif kind is None:
                fake.reject("u", what)
                reply = _error("400 Bad Request", "u= must be an https provider chat/completions URL "
                                                  "or Gemini streamGenerateContent?alt=sse URL")
            gemini = kind == "gemini"
        elif path == b"/v1/models":  # LiteLLM asks at start-up
            reply = fake.models_reply
        elif path == b"/v1/traces":  # the traced sidecar's collector: accept, count, discard
            fake.counters.trace_exports += 1
            reply = fake.traces_reply
        elif path == b"/__stats":
            reply = _response("200 OK", b"application/json", json.dumps(asdict(fake.counters)).encode())
        elif path.endswith(b":streamGenerateContent"):
            gemini = _gemini_stream_ok(path.decode("latin-1"), query.decode("latin-1"))
            if not gemini:
                fake.reject("gemini", what)
                reply = _error("400 Bad Request", "streamGenerateContent needs alt=sse and no key=")
        elif not path.endswith(b"/chat/completions"):
            fake.reject("path", what)
            reply = _error("404 Not Found", "unknown path")
        if reply is None and gemini:
            fake.counters.gemini_streams += 1
            self._start_stream(fake.gemini_script, fake.fast_interval)
            return
        if reply is None and _STREAM_RE.search(self._body):
            hold = payloads.HOLD_MODEL.encode() in self._body
            usage = _USAGE_RE.search(self._body) is not None
            self._start_stream(fake.scripts[(hold, usage)], fake.hold_interval if hold
                               else fake.fast_interval if payloads.FAST_MODEL.encode() in self._body
                               else fake.interval)
            return
        transport.write(reply or fake.json_reply)
        if self._close:
            transport.close()

    def _start_stream(self, writes: tuple[bytes, ...], interval: float) -> None:
        c = self.fake.counters
        c.streams += 1
        c.streams_open += 1
        c.streams_open_max = max(c.streams_open_max, c.streams_open)
        self._writes, self._step, self._t0 = writes, 0, self._loop.time()
        self._tick(interval)

    def _tick(self, interval: float) -> None:
        # Absolute deadlines, so one late tick does not push every later chunk back; but never
        # two writes closer than half an interval, so a chunk arriving right behind the one before
        # it was held back on the way, not sent that way.
        self._handle = None
        transport = self._transport
        if transport is None:
            return
        transport.write(self._writes[self._step])
        self._step += 1
        if self._step < len(self._writes):
            due = max(self._t0 + self._step * interval, self._loop.time() + interval / 2)
            self._handle = self._loop.call_at(due, self._tick, interval)
            return
        self._end_stream()
        if self._close:
            transport.close()

    def _end_stream(self) -> None:
        if self._writes:
            self.fake.counters.streams_open -= 1
            self._writes = ()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


async def serve(port: int, fake: Fake, max_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Conn(fake), "127.0.0.1", port, backlog=4096)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), max_seconds)
    except TimeoutError:
        print("upstream: lifetime bound reached, exiting", file=sys.stderr)
    server.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--interval", type=float, default=0.020, help="seconds between stream chunks")
    p.add_argument("--hold-interval", type=float, default=1.0, help="pacing of held streams")
    p.add_argument("--fast-interval", type=float, default=0.002,
                   help=f"pacing of {payloads.FAST_MODEL!r} streams (the stream-CPU phase)")
    p.add_argument("--hold-chunks", type=int, default=120, help="chunks in a held stream")
    p.add_argument("--max-seconds", type=float, default=3600.0, help="exit after this long regardless")
    a = p.parse_args(argv)
    uvloop.run(serve(a.port, Fake(a.interval, a.hold_interval, a.hold_chunks, a.fast_interval),
                     a.max_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
