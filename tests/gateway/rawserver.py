"""A loopback HTTP/1.1 server with byte-level control, for driving the outbound clients.

Each accepted connection runs the test's ``handler(peer)``; ``Peer`` reads requests as they were
sent (head order and casing kept, chunked bodies decoded) and writes whatever bytes the test says.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    chunk_sizes: list[int] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class Peer:
    """One accepted connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        self.reader, self.writer, self.index = reader, writer, index

    async def read_request(self) -> Request | None:
        """The next request, or None when the client closed the connection."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = [(k, v.strip()) for k, v in (line.split(":", 1) for line in lines[1:])]
        req = Request(method, target, headers, b"")
        if (length := req.header("content-length")) is not None:
            req.body = await self.reader.readexactly(int(length))
        elif (req.header("transfer-encoding") or "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
                req.chunk_sizes.append(size)
            req.body = b"".join(parts)
        return req

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0), as a crashed or overloaded peer does."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def closed_by_client(self) -> bool:
        """Wait for the client's end of this connection: True once it is closed."""
        try:
            return await self.reader.read(1) == b""
        except ConnectionError:
            return True


Handler = Callable[[Peer], Awaitable[None]]


class RawServer:
    """``async with RawServer(handler) as srv``: ``srv.url``, ``srv.connections``, ``srv.peers``."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self._handler, self._tls = handler, tls
        self.connections = 0
        self.open_now = 0
        self.max_open = 0
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        peer = Peer(reader, writer, self.connections)
        self.peers.append(peer)
        try:
            await self._handler(peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: what several tests do on purpose
        except Exception as exc:  # surfaced by __aexit__ so a broken fake fails the test
            self.errors.append(exc)
        finally:
            self.open_now -= 1
            writer.close()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._track, "127.0.0.1", 0, ssl=self._tls)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._accept(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        if self.errors:
            raise self.errors[0]


def keep_alive(handle: Callable[[Peer, Request], Awaitable[bool]]) -> Handler:
    """A keep-alive handler: ``handle(peer, request)`` per request; return False to stop."""

    async def handler(peer: Peer) -> None:
        while (req := await peer.read_request()) is not None:
            if not await handle(peer, req):
                return

    return handler


async def read_all(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


def response(status: str = "200 OK", body: bytes = b"", headers: list[tuple[str, str]] | None = None,
             *, length: bool = True) -> bytes:
    """A response's bytes, with Content-Length unless ``length`` is False."""
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers or []]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in parts if p)
