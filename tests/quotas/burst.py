"""A burst as an agent fan-out or a retry storm sends it: every connection opened first, then every
request written in one loop iteration, then every answer read. Raw HTTP/1.1 on separate sockets
(no client pool that would queue them), answers parsed with httptools.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Reader:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: list[bytes] = field(default_factory=list)
    done: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class _Barrier:
    """Counts open connections; releases every sender at once when all are open."""

    def __init__(self, n: int) -> None:
        self.n, self.open = n, 0
        self.go = asyncio.Event()
        self.all_open = asyncio.Event()

    async def connected(self) -> None:
        self.open += 1
        if self.open == self.n:
            self.all_open.set()
        await self.go.wait()


async def _one(host: str, port: int, head: bytes, body: bytes, barrier: _Barrier) -> Answer:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await barrier.connected()
        writer.write(head + body)
        state = _Reader()
        parser = httptools.HttpResponseParser(state)
        while not state.done:
            data = await reader.read(65536)
            if not data:
                break
            parser.feed_data(data)
        return Answer(parser.get_status_code(), state.headers, b"".join(state.body))
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def chat_request(path: str, headers: dict[str, str], body: bytes, host: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Connection: close",
             "Content-Type: application/json", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def burst(requests: list[tuple[str, dict[str, str], bytes]], within: float = 60) -> list[Answer]:
    """``requests``: (url, headers, body) each. All connect first; then every request is written in
    the same loop iteration; then the answers are read."""
    barrier = _Barrier(len(requests))
    tasks = []
    for url, headers, body in requests:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        head = chat_request(parts.path or "/", headers, body, f"{host}:{port}")
        tasks.append(asyncio.ensure_future(_one(host, port, head, body, barrier)))
    async with asyncio.timeout(within):
        opened = asyncio.ensure_future(barrier.all_open.wait())
        await asyncio.wait([opened, *tasks], return_when=asyncio.FIRST_COMPLETED)
        opened.cancel()
        barrier.go.set()
        return list(await asyncio.gather(*tasks))


def tally(answers: list[Answer]) -> Counter[int]:
    return Counter(a.status for a in answers)
