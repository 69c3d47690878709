"""``Exchange`` as a handler uses it: request bodies (whole, streamed, chunked, Expect: 100-continue),
flow control in both directions, and what a handler sees when its client goes away."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket

import pytest

from proxy.inbound import ClientGone, Exchange
from proxy.inbound.exchange import HIGH_WATER

from .wire import at_eof, connect, get, read_head, read_reply, send, serving, until

pytestmark = pytest.mark.timeout(30)

BODY = bytes(range(256)) * 40 + b"the end"


def chunked(body: bytes, sizes: list[int]) -> bytes:
    out, at = [], 0
    for size in sizes:
        piece = body[at:at + size]
        at += size
        if piece:
            out.append(b"%x\r\n%b\r\n" % (len(piece), piece))
    assert at >= len(body)
    return b"".join(out) + b"0\r\n\r\n"


def post_head(path: str = "/", *headers: str) -> bytes:
    return ("\r\n".join([f"POST {path} HTTP/1.1", "Host: sidecar", *headers]) + "\r\n\r\n").encode()


async def read_all(ex: Exchange) -> bytes:
    parts = []
    while piece := await ex.read():
        parts.append(piece)
    return b"".join(parts)


class Bodies:
    """A handler that records how it got each request body and answers with its length."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes]] = []

    async def __call__(self, ex: Exchange) -> None:
        if ex.body_complete:
            how, body = "take_body", ex.take_body()
        else:
            how, body = "read", await read_all(ex)
        self.seen.append((how, body))
        ex.respond(200, "OK", [], str(len(body)).encode())


async def test_chunked_body_that_came_with_the_head_is_taken_whole() -> None:
    handler = Bodies()
    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        await send(writer, post_head("/", "Transfer-Encoding: chunked")
                   + chunked(BODY, [1, 100, 4000, 10 ** 6]))
        reply = await read_reply(reader)
    assert reply.body == str(len(BODY)).encode()
    assert handler.seen == [("take_body", BODY)]


def splits(seed: int, total: int) -> list[int]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, total), min(total - 1, rng.randint(1, 40))))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
async def test_chunked_body_sent_in_pieces_is_read_whole(seed: int | None) -> None:
    """The chunked encoding itself is cut at arbitrary points (byte by byte when ``seed`` is None):
    the chunk sizes, the CRLFs and the data all arrive split."""
    handler = Bodies()
    rng = random.Random(seed)
    wire = chunked(BODY, [rng.randint(1, 3000) for _ in range(len(BODY))])
    pieces = [1] * 300 + [len(wire) - 300] if seed is None else splits(seed, len(wire))
    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        await send(writer, post_head("/", "Transfer-Encoding: chunked"))
        at = 0
        for size in pieces:
            await send(writer, wire[at:at + size])
            at += size
            await asyncio.sleep(0)
        reply = await read_reply(reader)
    assert reply.status == 200
    assert handler.seen == [("read", BODY)]


async def test_content_length_body_streamed_is_read_whole() -> None:
    handler = Bodies()
    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        await send(writer, post_head("/", f"Content-Length: {len(BODY)}"))
        for i in range(0, len(BODY), 999):
            await send(writer, BODY[i:i + 999])
        reply = await read_reply(reader)
    assert reply.body == str(len(BODY)).encode()
    assert handler.seen[0][1] == BODY


# -- Expect: 100-continue ------------------------------------------------------------------------

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


async def test_100_continue_is_sent_only_when_the_handler_reads() -> None:
    entered, go = asyncio.Event(), asyncio.Event()

    async def handler(ex: Exchange) -> None:
        entered.set()
        await go.wait()
        body = await read_all(ex)
        ex.respond(200, "OK", [], body[::-1])

    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        await send(writer, post_head("/", "Expect: 100-continue", "Content-Length: 5"))
        await entered.wait()
        # The handler has the request and has not read: nothing may have been sent yet.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.2)
        go.set()
        assert await reader.readexactly(len(CONTINUE)) == CONTINUE
        await send(writer, b"hello")
        reply = await read_reply(reader)
    assert (reply.status, reply.body) == (200, b"olleh")


async def test_refusal_without_reading_never_sends_100_and_survives_the_body() -> None:
    """The client sends its large body anyway (as curl does after a wait), slowly; the 413 that
    answered the head must still reach it whole: the server reads and drops the body meanwhile
    instead of closing on unread data (which would reset the connection under the response)."""
    # Larger than the client's receive buffer: part of it is still in the server's hands when the
    # client stops sending, and a close on unread data then would discard it.
    refusal = b'{"error":{"code":"request_too_large","pad":"' + b"p" * 256 * 1024 + b'"}}'
    declared = 64 * 1024 * 1024

    async def handler(ex: Exchange) -> None:
        assert ex.content_length == declared
        ex.respond(413, "Payload Too Large", [("Content-Type", "application/json")], refusal)

    async with serving(handler) as (_, port):
        data = await upload_then_read(port, post_head("/", "Expect: 100-continue",
                                                      f"Content-Length: {declared}"))
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    reply = await read_reply(reader)
    assert (reply.status, reply.body) == (413, refusal)
    assert reply.all("Connection") == ["close"]
    assert await reader.read() == b""  # nothing after the refusal, no 100 Continue before it


async def upload_then_read(port: int, head: bytes, pieces: int = 64) -> bytes:
    """Send ``head`` and then body bytes slowly, without reading; only then read all that came
    back. A plain socket: a failed send must not hide what was received (a StreamReader would)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, head)
        with contextlib.suppress(ConnectionError):
            for _ in range(pieces):
                await loop.sock_sendall(sock, b"x" * 65536)
                await asyncio.sleep(0.005)
        received = bytearray()
        with contextlib.suppress(ConnectionResetError):
            while data := await loop.sock_recv(sock, 65536):
                received += data
        return bytes(received)
    finally:
        sock.close()


# -- the client goes away ------------------------------------------------------------------------


async def test_client_disconnect_cancels_the_handler() -> None:
    entered, outcome = asyncio.Event(), asyncio.get_running_loop().create_future()

    async def handler(ex: Exchange) -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.set_result("cancelled")
            raise

    async with serving(handler) as (server, port):
        async with connect(port) as (_, writer):
            await send(writer, get("/"))
            await entered.wait()
        assert await asyncio.wait_for(outcome, 10) == "cancelled"
        await until(lambda: not server.tasks and not server.connections)


async def test_without_cancel_on_disconnect_the_next_write_raises_client_gone() -> None:
    entered, outcome = asyncio.Event(), asyncio.get_running_loop().create_future()
    exchanges: list[Exchange] = []

    async def handler(ex: Exchange) -> None:
        exchanges.append(ex)
        ex.start(200, "OK", [])
        await ex.write(b"first")
        entered.set()
        transport = ex.transport
        assert transport is not None
        await until(transport.is_closing)
        try:
            await ex.write(b"second")
        except ClientGone:
            outcome.set_result("client gone")
            raise
        outcome.set_result("written")

    async with serving(handler, cancel_on_disconnect=False) as (server, port):
        async with connect(port) as (reader, writer):
            await send(writer, get("/"))
            await entered.wait()
            await reader.readuntil(b"first")
        assert await asyncio.wait_for(outcome, 10) == "client gone"
        await until(lambda: not server.tasks)


async def test_client_gone_while_handler_reads_the_body() -> None:
    outcome = asyncio.get_running_loop().create_future()

    async def handler(ex: Exchange) -> None:
        try:
            await read_all(ex)
        except ClientGone:
            outcome.set_result("client gone")
            raise
        outcome.set_result("read")

    async with serving(handler, cancel_on_disconnect=False) as (_, port):
        async with connect(port) as (_, writer):
            await send(writer, post_head("/", "Content-Length: 100") + b"only part")
        assert await asyncio.wait_for(outcome, 10) == "client gone"


async def test_bad_chunk_after_the_handler_began_reading_is_a_400_and_ends_it() -> None:
    first, outcome = asyncio.Event(), asyncio.get_running_loop().create_future()

    async def handler(ex: Exchange) -> None:
        try:
            assert await ex.read() == b"hello"
            first.set()
            await ex.read()
        except asyncio.CancelledError:
            outcome.set_result("cancelled")
            raise
        outcome.set_result("read on")

    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        await send(writer, post_head("/anthropic/v1/messages", "Transfer-Encoding: chunked")
                   + b"5\r\nhello\r\n")
        await first.wait()
        await send(writer, b"nothex\r\n")
        reply = await read_reply(reader)
        assert await at_eof(reader)
    assert await asyncio.wait_for(outcome, 10) == "cancelled"
    assert reply.status == 400
    assert reply.json()["type"] == "error"  # the request's path chose the shape
    assert reply.all("Connection") == ["close"]


# -- flow control ----------------------------------------------------------------------------------

RESPONSE_BYTES = 64 * 1024 * 1024
PIECE = bytes(range(256)) * 256  # 64 KiB


class Stalled:
    """True once a counter has kept its value over several consecutive checks."""

    def __init__(self, checks: int = 20) -> None:
        self.checks, self.last, self.same = checks, -1, 0

    def __call__(self, value: int) -> bool:
        self.same = self.same + 1 if value == self.last else 0
        self.last = value
        return self.same >= self.checks


async def test_response_back_pressure_blocks_the_handler_until_the_client_reads() -> None:
    written = [0]
    most_buffered = [0]
    done = asyncio.Event()
    transports: list[asyncio.Transport] = []
    stalled = Stalled()

    async def handler(ex: Exchange) -> None:
        transport = ex.transport
        assert transport is not None
        transports.append(transport)
        ex.start(200, "OK", [("Content-Length", str(RESPONSE_BYTES))])
        while written[0] < RESPONSE_BYTES:
            await ex.write(PIECE)
            written[0] += len(PIECE)
            most_buffered[0] = max(most_buffered[0], transport.get_write_buffer_size())
        await ex.write_eof()
        done.set()

    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        await send(writer, get("/"))
        # The kernel's buffers fill, then the transport's: the handler must end up waiting in write.
        await until(lambda: bool(transports) and transports[0].get_write_buffer_size() > 0)
        await until(lambda: stalled(written[0]))
        assert not done.is_set()
        assert written[0] < RESPONSE_BYTES // 2
        head = await read_head(reader)
        assert head.get("Content-Length") == str(RESPONSE_BYTES)
        received = 0
        while received < RESPONSE_BYTES:
            data = await reader.read(1 << 20)
            assert data, "connection closed early"
            assert data == (PIECE * 17)[received % len(PIECE):][:len(data)]
            received += len(data)
        await asyncio.wait_for(done.wait(), 10)
    assert received == RESPONSE_BYTES
    assert most_buffered[0] <= 4 * len(PIECE)  # a few pieces, never the response


async def test_request_body_flow_control_pauses_a_client_the_handler_does_not_read() -> None:
    held: list[Exchange] = []
    go = asyncio.Event()
    total = 32 * 1024 * 1024

    async def handler(ex: Exchange) -> None:
        held.append(ex)
        await go.wait()
        body = await read_all(ex)
        ex.respond(200, "OK", [], str(len(body)).encode())

    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        client = writer.transport
        writer.write(post_head("/", "Transfer-Encoding: chunked"))
        sent = 0
        # Write without waiting until the client's own buffer grows: the server stopped reading.
        while client.get_write_buffer_size() == 0 and sent < total:
            writer.write(b"%x\r\n%b\r\n" % (len(PIECE), PIECE))
            sent += len(PIECE)
            await asyncio.sleep(0)
        await until(lambda: bool(held))
        server_side = held[0].transport
        assert server_side is not None
        assert sent < total, "the upload was never paused"
        assert not server_side.is_reading()
        # At most the high-water mark plus the one read that crossed it is held in memory (the
        # count is private: nothing public says how much of a body waits unread).
        assert held[0]._buffered <= HIGH_WATER + 256 * 1024 + len(PIECE)
        go.set()
        while sent < total:
            writer.write(b"%x\r\n%b\r\n" % (len(PIECE), PIECE))
            sent += len(PIECE)
            await writer.drain()
        await send(writer, b"0\r\n\r\n")
        reply = await read_reply(reader)
    assert (reply.status, reply.body) == (200, str(total).encode())
