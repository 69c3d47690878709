"""CPU per request of the outbound clients (aiohttp vs lean) against a fast raw upstream.

    .venv/bin/python bench/client_bench.py [--requests 20000] [--rounds 5] [--concurrency 50]

The upstream (uvloop + httptools, keep-alive, canned answers) runs in a child process, so the
figure is this process's CPU (``time.process_time``: user + system, steal not charged) divided by
the request count. Rounds alternate between clients, since steal on a shared VM drifts; the median
is reported. Each request does what the proxy handler does with a response: ``open``, read the
content type, ``header_items()``, iterate ``chunks()``, ``close(reusable=True)``. The ``floor`` row
is a bare Protocol with no timeouts or error handling: what the syscalls and the loop cost alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

UPSTREAM = r'''
import asyncio, json, sys, uvloop, httptools
BODY = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello " * 100},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}}).encode()
JSON = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-lava-request-id: req_1\r\n"
        b"Date: Thu, 26 Nov 2026 00:00:00 GMT\r\nopenai-processing-ms: 12\r\nContent-Length: "
        + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
EVENT = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nx-lava-request-id: req_1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")
FRAME = b"%x\r\n%b\r\n" % (len(EVENT), EVENT)
class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t = t
        self.p = httptools.HttpRequestParser(self)
        self.url = b""
    def data_received(self, d):
        self.p.feed_data(d)
    def on_url(self, u):
        self.url += u
    def on_message_complete(self):
        url, self.url = self.url, b""
        if b"stream" in url:
            # Three writes on three loop turns: the client sees the body in several reads.
            loop = asyncio.get_running_loop()
            self.t.write(HEAD + FRAME * 10)
            loop.call_soon(self.t.write, FRAME * 10)
            loop.call_soon(loop.call_soon, self.t.write, FRAME * 10 + b"0\r\n\r\n")
        else:
            self.t.write(JSON)
async def main(port):
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(P, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    await asyncio.sleep(3600)
uvloop.run(main(int(sys.argv[1])))
'''

HEADERS = [(b"Content-Type", b"application/json"), (b"Accept", b"application/json"),
           (b"Authorization", b"Bearer " + b"x" * 320), (b"User-Agent", b"OpenAI/Python 1.99.0"),
           (b"X-Stainless-Lang", b"python"), (b"Accept-Encoding", b"gzip, deflate")]
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _FloorConn(asyncio.Protocol):
    """The reference floor: a bare keep-alive Protocol on httptools, no timeouts, no error handling,
    no streaming (the brief's throwaway prototype). Not a client; the cost any client starts from."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.t: asyncio.Transport | None = None
        self.body: list[bytes] = []
        self.headers: list[tuple[bytes, bytes]] = []
        self.done: asyncio.Future[None] | None = None
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.status = self.parser.get_status_code()
        assert self.done is not None
        self.done.set_result(None)


class _Floor:
    def __init__(self, url: str) -> None:
        self.host, port = url.split("//")[1].split(":")
        self.port = int(port)
        self.idle: list[_FloorConn] = []

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        for c in self.idle:
            assert c.t is not None
            c.t.close()

    async def open(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        loop = asyncio.get_running_loop()
        c = self.idle.pop() if self.idle else (await loop.create_connection(_FloorConn, self.host,
                                                                           self.port))[1]
        c.done, c.body, c.headers = loop.create_future(), [], []
        target = url.split(str(self.port), 1)[1]
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers) + f"Content-Length: {len(body)}\r\n\r\n"
        assert c.t is not None
        c.t.write(head.encode() + body)
        await c.done
        return _FloorResponse(self, c)


class _FloorResponse:
    def __init__(self, floor: _Floor, conn: _FloorConn) -> None:
        self.floor, self.conn = floor, conn
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in conn.headers}

    def header_items(self) -> list[tuple[str, str]]:
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.conn.headers]

    async def chunks(self) -> Any:
        yield b"".join(self.conn.body)

    def close(self, *, reusable: bool) -> None:
        self.floor.idle.append(self.conn)


def make(kind: str, url: str) -> Any:
    from proxy.config import Gateway

    if kind == "floor":
        return _Floor(url)
    settings = Gateway(url=url, max_connections=512, client=kind)  # type: ignore[arg-type]
    if kind == "lean":
        from proxy.gateway.lean import LeanClient

        return LeanClient(settings)
    from proxy.gateway.aiohttp_client import AiohttpClient

    return AiohttpClient(settings)


async def one(client: Any, url: str) -> int:
    up = await client.open("POST", url, HEADERS, BODY)
    up.headers.get("Content-Type")
    up.header_items()
    n = 0
    async for chunk in up.chunks():
        n += len(chunk)
    up.close(reusable=True)
    return n


async def run(kind: str, url: str, requests: int, concurrency: int) -> float:
    """CPU microseconds per request for ``requests`` requests over ``concurrency`` workers."""
    client = make(kind, url.split("/v1")[0])
    await client.start()
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one(client, url)

    await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm: connections, caches
    left = requests
    t0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu = time.process_time() - t0
    await client.aclose()
    return cpu / requests * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--clients", default="aiohttp,lean,floor",
                    help="floor: a bare Protocol prototype (JSON only), the reference cost")
    ap.add_argument("--kinds", default="json,stream")
    args = ap.parse_args(argv)
    import uvloop

    port = free_port()
    upstream = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(port)], stdout=subprocess.PIPE,
                                text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert upstream.stdout is not None
        upstream.stdout.readline()
        results: dict[tuple[str, str], list[float]] = {}
        clients, kinds = args.clients.split(","), args.kinds.split(",")
        for r in range(args.rounds):
            for kind in kinds:
                url = f"http://127.0.0.1:{port}/v1/forward?u={'stream' if kind == 'stream' else 'json'}"
                for client in clients if r % 2 == 0 else clients[::-1]:
                    if client == "floor" and kind != "json":
                        continue
                    us = uvloop.run(run(client, url, args.requests, args.concurrency))
                    results.setdefault((kind, client), []).append(us)
        report(results, args)
    finally:
        upstream.terminate()
        upstream.wait(5)
    return 0


def report(results: dict[tuple[str, str], list[float]], args: argparse.Namespace) -> None:
    fmt: Callable[[list[float]], str] = lambda xs: " ".join(f"{x:6.1f}" for x in xs)  # noqa: E731
    print(f"CPU us/request, {args.requests} requests x {args.rounds} rounds, "
          f"concurrency {args.concurrency} (median, then every round)")
    for (kind, client), xs in sorted(results.items()):
        print(f"  {kind:6} {client:8} median {statistics.median(xs):6.1f}   [{fmt(xs)}]")


if __name__ == "__main__":
    raise SystemExit(main())
