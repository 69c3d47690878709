"""The inbound server's slow-client clocks on a real socket: a head must complete within
``header_timeout`` of its first byte, a body may not go silent longer than ``body_idle_timeout``;
both answered 408 in the caller's shape (or raised to the handler reading the body) and counted.
A silence the server itself causes (it stopped reading) is never the client's."""

from __future__ import annotations

import asyncio
import json

import pytest

from proxy.errors import BodyTimeout
from proxy.inbound import Exchange

from .wire import at_eof, connect, get, read_reply, send, serving, until

pytestmark = pytest.mark.timeout(30)

SHORT = 0.3


class Counted:
    def __init__(self) -> None:
        self.phases: list[str] = []

    def __call__(self, phase: str) -> None:
        self.phases.append(phase)


async def read_all(ex: Exchange) -> None:
    """Reads the whole body and answers its size; a body that times out is answered 408."""
    size = 0
    try:
        while chunk := await ex.read():
            size += len(chunk)
    except BodyTimeout as err:
        ex.respond(err.status, "Request Timeout", [("x-code", err.code)], b"")
        return
    ex.respond(200, "OK", [], str(size).encode())


def post(path: str, length: int) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: s\r\nContent-Length: {length}\r\n\r\n".encode()


async def test_a_head_in_several_reads_within_the_limit_is_served() -> None:
    counted = Counted()
    async with serving(read_all, header_timeout=1.0, on_timeout=counted) as (_, port), \
            connect(port) as (reader, writer):
        for piece in (b"GET / HT", b"TP/1.1\r\nHo", b"st: s\r\n\r\n"):
            await send(writer, piece)
            await asyncio.sleep(0.05)
        assert (await read_reply(reader)).status == 200
    assert counted.phases == []


@pytest.mark.parametrize(("path", "shape"), [("/v1/chat/completions", "openai"),
                                             ("/anthropic/v1/messages", "anthropic")])
async def test_a_trickled_head_gets_408_in_its_shape_then_the_close(path: str, shape: str) -> None:
    counted = Counted()
    async with serving(read_all, header_timeout=SHORT, on_timeout=counted) as (_, port), \
            connect(port) as (reader, writer):
        await send(writer, f"POST {path} HTTP/1.1\r\nHost: s\r\nX-Slow: ".encode())
        async with asyncio.timeout(10):
            reply = await read_reply(reader)
            assert await at_eof(reader)
    assert reply.status == 408
    assert reply.get("connection") == "close"
    assert reply.get("x-lava-sidecar-error") == "request_header_timeout"
    doc = json.loads(reply.body)
    assert ("type" in doc) == (shape == "anthropic")
    assert counted.phases == ["head"]


async def test_the_next_heads_clock_is_its_own_after_a_slow_body() -> None:
    """A body armed the clock for its (long) idle deadline; the next head on the connection must
    still be held to the (short) head deadline."""
    counted = Counted()
    async with serving(read_all, header_timeout=SHORT, body_idle_timeout=20.0,
                       on_timeout=counted) as (_, port), connect(port) as (reader, writer):
        await send(writer, post("/a", 10) + b"12345")
        await asyncio.sleep(0.05)
        await send(writer, b"67890")
        assert (await read_reply(reader)).body == b"10"
        await send(writer, b"GET /b HTTP/1.1\r\n")
        async with asyncio.timeout(5):  # far below the body's 20 s
            reply = await read_reply(reader)
    assert reply.status == 408
    assert counted.phases == ["head"]


async def test_a_head_that_times_out_behind_a_response_in_progress_is_answered_after_it() -> None:
    release = asyncio.Event()

    async def slow(ex: Exchange) -> None:
        await release.wait()
        ex.respond(200, "OK", [], b"first")

    counted = Counted()
    async with serving(slow, header_timeout=SHORT, on_timeout=counted) as (_, port), \
            connect(port) as (reader, writer):
        await send(writer, get("/first") + b"GET /second HTTP/1.1\r\nHo")
        await until(lambda: bool(counted.phases))
        release.set()
        first = await read_reply(reader)
        second = await read_reply(reader)
    assert (first.status, first.body) == (200, b"first")
    assert second.status == 408
    assert counted.phases == ["head"]


async def test_a_stalled_body_raises_408_to_its_reader_and_is_counted() -> None:
    counted = Counted()
    async with serving(read_all, body_idle_timeout=SHORT, on_timeout=counted) as (_, port), \
            connect(port) as (reader, writer):
        await send(writer, post("/v1/chat/completions", 100) + b"x" * 10)
        async with asyncio.timeout(10):
            reply = await read_reply(reader)
    assert (reply.status, reply.get("x-code")) == (408, "request_body_timeout")
    assert counted.phases == ["body"]


async def test_a_body_the_server_stopped_reading_is_not_a_stall() -> None:
    """The handler does not read for several idle timeouts: past the read buffer the server
    stops reading, so the client's silence is the server's doing; the body is then read whole."""
    counted = Counted()
    size = 2 * 1024 * 1024

    async def late(ex: Exchange) -> None:
        await asyncio.sleep(SHORT * 4)
        await read_all(ex)

    async with serving(late, body_idle_timeout=SHORT, on_timeout=counted) as (_, port), \
            connect(port) as (reader, writer):
        writer.write(post("/upload", size) + b"y" * size)
        async with asyncio.timeout(20):
            reply = await read_reply(reader)
    assert (reply.status, reply.body) == (200, str(size).encode())
    assert counted.phases == []
