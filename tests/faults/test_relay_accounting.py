"""Bytes the sidecar received from Lava are counted even when its client did not take them: Lava
bills what it served, so a chunk read from upstream whose write to a departed client failed (or
was cancelled mid-write) must still reach the usage reader.

The relay runs in the sidecar's real inbound server; the upstream is scripted (exact chunk boundaries, and a
gate the test opens), which is what makes the write-versus-disconnect order deterministic here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from multidict import CIMultiDict

from proxy.inbound import Exchange, InboundServer
from proxy.lifecycle import render_refusal
from proxy.pipeline import RelayState, relay
from proxy.usage import make_extractor
from proxy.usage.base import Api, RequestFacts, Usage

from .harness import until

pytestmark = pytest.mark.timeout(30)


def event(doc: dict[str, object]) -> bytes:
    return f"event: {doc['type']}\ndata: {json.dumps(doc)}\n\n".encode()


START = event({"type": "message_start", "message": {"id": "msg_1", "model": "claude-haiku-4-5",
                                                    "usage": {"input_tokens": 11, "output_tokens": 1}}})
DELTA = event({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
               "usage": {"output_tokens": 42}})


@dataclass
class ScriptedUpstream:
    """An ``UpstreamResponse`` that yields ``before``, waits for ``gate``, then yields ``after``."""

    before: list[bytes]
    after: list[bytes]
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    status: int = 200
    reason: str = "OK"
    raw_reason: bytes = b"OK"
    received_at: float = 0.0
    closed: bool = False
    stopped: bool = False

    @property
    def headers(self) -> CIMultiDict[str]:
        return CIMultiDict({"Content-Type": "text/event-stream"})

    def header_items(self) -> list[tuple[str, str]]:
        return [("Content-Type", "text/event-stream")]

    @property
    def fields(self) -> list[tuple[bytes, bytes, bytes]]:
        return [(b"content-type", b"Content-Type", b"text/event-stream")]

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self.before:
            yield chunk
        await self.gate.wait()
        for chunk in self.after:
            yield chunk
        await asyncio.Event().wait()  # then silence: the relay ends only because its client left

    async def stream_to(self, sink: Callable[[bytes], None]) -> None:
        async for chunk in self.chunks():
            sink(chunk)
            if self.stopped:
                return

    def stop(self) -> None:
        self.stopped = True

    def close(self, *, reusable: bool) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@dataclass
class Server:
    up: ScriptedUpstream
    usage: list[Usage] = field(default_factory=list)
    requests: list[Exchange] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, ex: Exchange) -> None:
        self.requests.append(ex)
        extractor = make_extractor(RequestFacts(api=Api.MESSAGES, stream=True), "anthropic",
                                   "text/event-stream", None, max_line_bytes=1 << 20)
        try:
            await relay(ex, self.up, RelayState(), headers=self.up.fields,
                               extractor=extractor, stripper=None, shape="anthropic", is_sse=True)
        finally:
            self.usage.append(extractor.finish())
            self.done.set()


@contextlib.asynccontextmanager
async def serving(server: Server, *, cancel_on_disconnect: bool) -> AsyncIterator[int]:
    inbound = InboundServer(server.handle, render_refusal=render_refusal, max_header_bytes=8192,
                            max_headers=100,
                            cancel_on_disconnect=cancel_on_disconnect)
    _, port = await inbound.listen("127.0.0.1", 0)
    try:
        yield port
    finally:
        await inbound.shutdown(1.0)


async def open_stream(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    return reader, writer


def client_gone(server: Server) -> bool:
    transport = server.requests[0].transport if server.requests else None
    return bool(server.requests) and (transport is None or transport.is_closing())


def write_blocked(server: Server) -> bool:
    transport = server.requests[0].transport if server.requests else None
    return transport is not None and transport.get_write_buffer_size() > 0


async def test_chunk_whose_write_fails_is_still_counted() -> None:
    server = Server(ScriptedUpstream(before=[START], after=[DELTA]))
    async with serving(server, cancel_on_disconnect=False) as port:
        reader, writer = await open_stream(port)
        await reader.readuntil(b"message_start")
        writer.close()
        # The relay now holds a dead client; the upstream's next chunk arrives only after that.
        await until(lambda: client_gone(server))
        server.up.gate.set()
        async with asyncio.timeout(5):
            await server.done.wait()
    assert server.usage[0].input_tokens == 11
    assert server.usage[0].output_tokens == 42


async def test_chunk_held_in_a_blocked_write_is_still_counted() -> None:
    """The client stops reading, so the relay blocks writing a chunk it has already read; then the
    client leaves and the handler is cancelled mid-write."""
    padding = b":" + b"p" * (16 << 20) + b"\n\n"
    server = Server(ScriptedUpstream(before=[START + padding + DELTA], after=[]))
    async with serving(server, cancel_on_disconnect=True) as port:
        reader, writer = await open_stream(port)
        await reader.readuntil(b"message_start")
        await until(lambda: write_blocked(server))
        writer.transport.abort()
        async with asyncio.timeout(5):
            await server.done.wait()
    assert server.usage[0].output_tokens == 42
