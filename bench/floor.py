"""``python -m bench.floor``: the cheapest HTTP/1.1 reverse proxy Python can be. A yardstick, not a product.

What issue 22 asks of the sidecar is a ratio to nginx; this target says how much of that ratio is
the runtime itself. It does the least any HTTP proxy must and nothing the sidecar does on top:
uvloop, httptools parsing both directions (a proxy has to know where messages end), and the bytes
relayed verbatim as they arrive (no header rewrite, no re-framing, no buffering, no metering, no
log, no metrics), each client connection paired with one upstream connection for its life (no
pool, no lookup). Anything a real proxy adds costs more than this, so its CPU per request and per
stream is a floor for any Python proxy on this machine, measured in the same run as nginx.

    python -m bench.floor --upstream 8080 --port 8081

``--sees-body``: the same, and each response body piece is also handed to Python (httptools'
``on_body``) and looked at for a usage object, as any metering proxy must: what the least
metering adds to each chunk, on top of the floor.

    python -m bench.floor --upstream 8080 --port 8081 --sees-body

Back-pressure is honoured in both directions (reading pauses while the other side's buffer is
full), so it holds 1,000 slow streams like the others.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import cast

import httptools
import uvloop


class _Upstream(asyncio.Protocol):
    """The upstream half: parses responses (for their ends) and writes their bytes to the client."""

    def __init__(self, down: _Downstream) -> None:
        self.down = down
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: not a subclass

    def data_received(self, data: bytes) -> None:
        self.down.write(data)
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.down.close()

    def pause_writing(self) -> None:
        self.down.pause_reading()

    def resume_writing(self) -> None:
        self.down.resume_reading()


class _SeeingUpstream(_Upstream):
    """``--sees-body``: the parser hands each body piece to Python, which keeps the last one that
    names a usage object (one callback and one scan in C per chunk: no parse, no re-framing)."""

    def __init__(self, down: _Downstream) -> None:
        super().__init__(down)
        self.usage = b""

    def on_body(self, body: bytes) -> None:
        if b'"usage"' in body:
            self.usage = body


class _Downstream(asyncio.Protocol):
    """The client half: parses requests (for their ends) and writes their bytes upstream."""

    def __init__(self, upstream_port: int, sees_body: bool = False) -> None:
        self.port = upstream_port
        self.upstream_type = _SeeingUpstream if sees_body else _Upstream
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.up: _Upstream | None = None
        self.early: list[bytes] = []  # bytes that arrived before the upstream connection was up

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: not a subclass
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, up = await loop.create_connection(lambda: self.upstream_type(self), "127.0.0.1", self.port)
        except OSError:
            self.close()
            return
        self.up = up
        if self.transport is None or self.transport.is_closing():
            if up.transport is not None:  # the client left while we dialled
                up.transport.close()
            return
        if up.transport is not None and self.early:
            up.transport.write(b"".join(self.early))
        self.early.clear()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()
            return
        up = self.up
        if up is not None and up.transport is not None:
            up.transport.write(data)
        else:
            self.early.append(data)

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def pause_writing(self) -> None:
        if self.up is not None and self.up.transport is not None:
            self.up.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.up is not None and self.up.transport is not None:
            self.up.transport.resume_reading()

    def pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.up is not None and self.up.transport is not None:
            self.up.transport.close()


async def _serve(upstream_port: int, port: int, sees_body: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Downstream(upstream_port, sees_body), "127.0.0.1", port,
                                      backlog=4096)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", type=int, required=True, help="the fake upstream's port")
    p.add_argument("--port", type=int, required=True, help="where to listen")
    p.add_argument("--sees-body", action="store_true",
                   help="hand each response body piece to Python and look for usage in it")
    a = p.parse_args(argv)
    uvloop.run(_serve(a.upstream, a.port, a.sees_body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
