"""Gateways the emulator cannot be: a closed port, a listener whose connects never complete, a
server that accepts and never answers, and an endless streamer that counts what it could send."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ..gateway.rawserver import Peer, RawServer

#: ``.invalid`` never resolves (RFC 2606), so this fails in DNS on any machine.
DNS_FAILS = "http://lava-gateway.invalid:8080"


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@asynccontextmanager
async def connect_hangs() -> AsyncIterator[str]:
    """A listener with a full accept queue: a SYN to it is dropped, so ``connect`` never finishes."""
    lsock = socket.socket()
    filler = socket.socket()
    try:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(0)  # Linux queues backlog + 1 = one connection, and drops SYNs after that
        port = lsock.getsockname()[1]
        filler.connect(("127.0.0.1", port))
        yield f"http://127.0.0.1:{port}"
    finally:
        filler.close()
        lsock.close()


@dataclass
class Silent:
    """Accepts, reads the request, never answers; notes each connection the client closes."""

    server: RawServer | None = None
    requests: int = 0
    closed_by_client: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    async def handle(self, peer: Peer) -> None:
        if await peer.read_request() is None:
            return
        self.requests += 1
        if await peer.closed_by_client():
            self.closed_by_client += 1
            self.closed.set()


@asynccontextmanager
async def silent_gateway() -> AsyncIterator[Silent]:
    silent = Silent()
    async with RawServer(silent.handle) as srv:
        silent.server = srv
        yield silent


@dataclass
class Endless:
    """Answers 200 ``text/event-stream`` and writes SSE comment lines as fast as the reader lets it,
    up to ``cap`` bytes; ``sent`` is what the socket accepted so far (``drain`` applies the peer's
    back-pressure), so it shows how far ahead of the slow client the sidecar let the stream run."""

    cap: int
    piece: bytes = b": " + b"x" * 16381 + b"\n"
    server: RawServer | None = None
    sent: int = 0
    closed_by_client: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    async def handle(self, peer: Peer) -> None:
        if await peer.read_request() is None:
            return
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        frame = b"%x\r\n%b\r\n" % (len(self.piece), self.piece)
        try:
            await peer.send(head)
            while self.sent < self.cap:
                await peer.send(frame)
                self.sent += len(self.piece)
        except ConnectionError:
            self.closed_by_client.set()
            return
        await peer.close()


@asynccontextmanager
async def endless_gateway(cap: int) -> AsyncIterator[Endless]:
    endless = Endless(cap)
    async with RawServer(endless.handle) as srv:
        endless.server = srv
        yield endless
