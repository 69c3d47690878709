"""Test helpers for the inbound server: a real ``InboundServer`` on 127.0.0.1 port 0, and a raw
socket client that writes exact bytes and parses replies strictly (framing included)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from proxy.inbound import Exchange, InboundServer
from proxy.inbound.server import Handler
from proxy.lifecycle import render_refusal


@dataclass
class Reply:
    """One parsed response. ``raw_body`` is the body as framed on the wire, ``body`` de-chunked."""

    version: bytes
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    raw_body: bytes = b""
    body: bytes = b""
    chunks: list[bytes] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        key = name.lower().encode("latin-1")
        return [v.decode("latin-1") for n, v in self.headers if n.lower() == key]

    def json(self) -> dict[str, object]:
        doc = json.loads(self.body)
        assert isinstance(doc, dict)
        return doc


async def read_head(reader: asyncio.StreamReader) -> Reply:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    version, status, reason = lines[0].split(b" ", 2)
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        assert sep, f"malformed header line {line!r}"
        headers.append((name, value.strip(b" \t")))
    return Reply(version, int(status), reason, headers)


async def read_chunked(reader: asyncio.StreamReader, reply: Reply) -> None:
    raw = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        raw += size_line
        size = int(size_line[:-2], 16)  # strict: no extensions, exactly hex digits
        if size == 0:
            end = await reader.readexactly(2)
            raw += end
            assert end == b"\r\n", "trailers or garbage after the last chunk"
            break
        data = await reader.readexactly(size + 2)
        raw += data
        assert data[-2:] == b"\r\n", "chunk not terminated by CRLF"
        reply.chunks.append(data[:-2])
    reply.raw_body = bytes(raw)
    reply.body = b"".join(reply.chunks)


async def read_reply(reader: asyncio.StreamReader, *, method: str = "GET",
                     skip_continue: bool = False) -> Reply:
    """Read exactly one response, framed as its head says (HEAD/1xx/204/304 carry no body)."""
    reply = await read_head(reader)
    while skip_continue and reply.status == 100:
        reply = await read_head(reader)
    if method == "HEAD" or reply.status < 200 or reply.status in (204, 304):
        return reply
    if (reply.get("Transfer-Encoding") or "").lower() == "chunked":
        await read_chunked(reader, reply)
    elif (length := reply.get("Content-Length")) is not None:
        reply.raw_body = reply.body = await reader.readexactly(int(length))
    else:
        reply.raw_body = reply.body = await reader.read()
    return reply


@contextlib.asynccontextmanager
async def serving(handler: Handler, *, max_header_bytes: int = 8192, max_headers: int = 100,
                  keepalive_seconds: float = 75.0, cancel_on_disconnect: bool = True,
                  access_log: logging.Logger | None = None, **options: Any,
                  ) -> AsyncIterator[tuple[InboundServer, int]]:
    """``options``: more ``InboundServer`` keywords (``header_timeout``, ``on_timeout``...)."""
    server = InboundServer(handler, render_refusal=render_refusal,
                           max_header_bytes=max_header_bytes, max_headers=max_headers,
                           keepalive_seconds=keepalive_seconds,
                           cancel_on_disconnect=cancel_on_disconnect, access_log=access_log,
                           **options)
    _, port = await server.listen("127.0.0.1", 0)
    try:
        yield server, port
    finally:
        await server.shutdown(1.0)


@contextlib.asynccontextmanager
async def connect(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


async def at_eof(reader: asyncio.StreamReader) -> bool:
    """True once the server closed the connection (FIN or reset) with nothing more to read."""
    try:
        return await reader.read(1) == b""
    except ConnectionResetError:
        return True


async def until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Wait for a condition a test cannot await directly (bounded; not a timing assertion)."""
    async with asyncio.timeout(within):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.005)


def get(path: str = "/", *headers: str, version: str = "HTTP/1.1") -> bytes:
    lines = [f"GET {path} {version}", "Host: sidecar", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def echo_path(ex: Exchange) -> None:
    """Answers with the request's target as the body (Content-Length framing)."""
    body = ex.raw_path.encode()
    ex.respond(200, "OK", [("Content-Type", "text/plain")], body)
