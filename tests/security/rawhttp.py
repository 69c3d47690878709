"""Requests written byte by byte on a plain socket: what no well-behaved HTTP client will send
(CR/LF inside values, raw non-ASCII, thousands of headers, malformed targets)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes


async def exchange(base_url: str, head: bytes, body: bytes = b"", *, within: float = 10.0) -> RawReply:
    """Send ``head`` (request line and headers, without the blank line; ``Connection: close`` is
    added) and ``body``; read the answer to the end of the connection."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        async with asyncio.timeout(within):
            writer.write(head.rstrip(b"\r\n") + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
            data = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1]) if lines and lines[0].startswith("HTTP/") else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        rest = _dechunk(rest)
    return RawReply(status, headers, rest)


def _dechunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(data[:size])
        data = data[size + 2:]
    return b"".join(out)


def request_head(method: str, target: str, headers: list[tuple[str, str]] | None = None,
                 *, body: bytes | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: sidecar"]
    lines += [f"{k}: {v}" for k, v in headers or []]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")
