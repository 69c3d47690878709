"""One connection as a client sees it: keep-alive, pipelining, HTTP/1.0, the framing the server
adds, bodiless responses, refusals of bad input before any handler, and handler failures."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from proxy.inbound import Exchange

from .wire import at_eof, connect, echo_path, get, read_reply, send, serving

pytestmark = pytest.mark.timeout(30)


async def test_keep_alive_serves_two_requests_then_honours_close() -> None:
    async with serving(echo_path) as (_, port), connect(port) as (reader, writer):
        await send(writer, get("/one"))
        first = await read_reply(reader)
        await send(writer, get("/two"))
        second = await read_reply(reader)
        assert (first.status, first.body, second.status, second.body) == (200, b"/one", 200, b"/two")
        assert first.all("Connection") == second.all("Connection") == []
        await send(writer, get("/three", "Connection: close"))
        third = await read_reply(reader)
        assert (third.status, third.body, third.all("Connection")) == (200, b"/three", ["close"])
        assert await at_eof(reader)


async def test_aiohttp_client_reuses_the_connection() -> None:
    peers: list[object] = []

    async def handler(ex: Exchange) -> None:
        assert ex.transport is not None
        peers.append(ex.transport.get_extra_info("peername"))
        ex.respond(200, "OK", [], ex.raw_path.encode())

    async with serving(handler) as (_, port), aiohttp.ClientSession() as http:
        for path in ("/a", "/b", "/c"):
            async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
                assert (resp.status, await resp.read()) == (200, path.encode())
    assert len(peers) == 3
    assert len(set(peers)) == 1  # one connection, three requests


async def test_pipelined_requests_are_handled_one_after_another_in_order() -> None:
    events: list[str] = []

    async def handler(ex: Exchange) -> None:
        events.append("start " + ex.raw_path)
        # Gives a second request every chance to start early if the server let it.
        for _ in range(5):
            await asyncio.sleep(0.01)
        events.append("end " + ex.raw_path)
        ex.respond(200, "OK", [], ex.raw_path.encode())

    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        await send(writer, get("/1") + get("/2") + get("/3"))
        bodies = [(await read_reply(reader)).body for _ in range(3)]
    assert bodies == [b"/1", b"/2", b"/3"]
    assert events == ["start /1", "end /1", "start /2", "end /2", "start /3", "end /3"]


async def streamed(ex: Exchange) -> None:
    """No Content-Length: the server picks the framing (chunked on 1.1, close on 1.0)."""
    ex.start(200, "OK", [("Content-Type", "text/plain")])
    for piece in (b"hello", b"", b", ", b"world" * 1000):
        await ex.write(piece)
    await ex.write_eof()


STREAMED = b"hello, " + b"world" * 1000


async def test_http10_response_without_length_ends_by_closing() -> None:
    async with serving(streamed) as (_, port), connect(port) as (reader, writer):
        await send(writer, b"GET / HTTP/1.0\r\nHost: sidecar\r\n\r\n")
        reply = await read_reply(reader)
    assert (reply.version, reply.status) == (b"HTTP/1.1", 200)
    assert reply.all("Connection") == ["close"]
    assert reply.all("Transfer-Encoding") == reply.all("Content-Length") == []
    assert reply.raw_body == STREAMED  # read up to the close: no chunk framing in it


async def test_http10_keep_alive_with_length_stays_open() -> None:
    async with serving(echo_path) as (_, port), connect(port) as (reader, writer):
        for path in ("/a", "/b"):
            await send(writer, get(path, "Connection: keep-alive", version="HTTP/1.0"))
            reply = await read_reply(reader)
            assert (reply.body, reply.all("Connection")) == (path.encode(), ["keep-alive"])


async def test_chunked_framing_added_without_length() -> None:
    async with serving(streamed) as (_, port), connect(port) as (reader, writer):
        await send(writer, get("/"))
        reply = await read_reply(reader)
        assert reply.all("Transfer-Encoding") == ["chunked"]
        assert reply.all("Content-Length") == []
        # One chunk per non-empty write: an empty write must not end the body early.
        assert reply.chunks == [b"hello", b", ", b"world" * 1000]
        assert reply.body == STREAMED
        await send(writer, get("/next"))  # the body ended exactly where the framing said
        assert (await read_reply(reader)).status == 200


async def test_content_length_response_passes_as_written() -> None:
    async def handler(ex: Exchange) -> None:
        ex.start(200, "OK", [("Content-Length", "11")])
        await ex.write(b"hello")
        await ex.write(b" world")
        await ex.write_eof()

    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        await send(writer, get("/") + get("/"))
        for _ in range(2):
            reply = await read_reply(reader)
            assert reply.all("Content-Length") == ["11"]
            assert reply.all("Transfer-Encoding") == []
            assert reply.raw_body == b"hello world"


@pytest.mark.parametrize(("method", "status", "length"), [
    ("HEAD", 200, "5"), ("HEAD", 200, None), ("GET", 204, None), ("GET", 304, "5")])
async def test_bodiless_responses_carry_no_body(method: str, status: int, length: str | None) -> None:
    async def handler(ex: Exchange) -> None:
        if ex.raw_path == "/next":
            ex.respond(200, "OK", [], b"next")
            return
        ex.start(status, "", [("Content-Length", length)] if length else [])
        await ex.write(b"hello")
        await ex.write_eof()

    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        await send(writer, f"{method} / HTTP/1.1\r\nHost: x\r\n\r\n".encode() + get("/next"))
        reply = await read_reply(reader, method=method)
        assert reply.status == status
        assert reply.all("Content-Length") == ([length] if length else [])
        assert reply.all("Transfer-Encoding") == []
        # Had any body byte been sent, it would be read here in place of the next status line.
        following = await read_reply(reader)
        assert (following.status, following.body) == (200, b"next")


async def test_respond_to_head_sends_only_the_head() -> None:
    async def handler(ex: Exchange) -> None:
        ex.respond(200, "OK", [("Content-Type", "text/plain")], b"twelve bytes")

    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        await send(writer, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + get("/"))
        head = await read_reply(reader, method="HEAD")
        assert head.all("Content-Length") == ["12"]
        assert (await read_reply(reader)).body == b"twelve bytes"


async def test_handler_error_before_responding_is_a_500_and_the_connection_lives_on() -> None:
    async def handler(ex: Exchange) -> None:
        if ex.raw_path.endswith("/boom"):
            raise RuntimeError("handler bug")
        ex.respond(200, "OK", [], b"fine")

    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        await send(writer, get("/v1/boom"))
        openai = await read_reply(reader)
        await send(writer, get("/anthropic/v1/boom"))
        anthropic = await read_reply(reader)
        await send(writer, get("/v1/ok"))
        ok = await read_reply(reader)
    assert (openai.status, openai.get("Content-Type")) == (500, "application/json")
    assert openai.json()["error"]["code"] == "sidecar_error"  # type: ignore[index]
    assert openai.json()["error"]["type"] == "server_error"  # type: ignore[index]
    assert "handler bug" not in openai.body.decode()
    assert anthropic.status == 500
    assert anthropic.json()["type"] == "error"
    assert anthropic.json()["error"]["code"] == "sidecar_error"  # type: ignore[index]
    assert (ok.status, ok.body) == (200, b"fine")


async def test_handler_error_after_starting_aborts_the_connection() -> None:
    async def handler(ex: Exchange) -> None:
        if ex.raw_path == "/ok":
            ex.respond(200, "OK", [], b"fine")
            return
        ex.start(200, "OK", [])
        await ex.write(b"partial")
        raise RuntimeError("handler bug mid-body")

    async with serving(handler) as (_, port):
        async with connect(port) as (reader, writer):
            await send(writer, get("/"))
            with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
                await read_reply(reader)  # the chunked body never gets its last chunk
        async with connect(port) as (reader, writer):
            await send(writer, get("/ok"))
            assert (await read_reply(reader)).body == b"fine"


# -- input refused before a handler sees it ------------------------------------------------------

LIMIT = 1024


async def refused(port: int, request: bytes) -> tuple[int, dict[str, object], list[str], str | None]:
    """Send ``request`` on a fresh connection; the reply, and that the server then closed."""
    async with connect(port) as (reader, writer):
        writer.write(request)
        reply = await read_reply(reader)
        assert await at_eof(reader)
    assert reply.get("Content-Type") == "application/json"
    return reply.status, reply.json(), reply.all("Connection"), reply.get("x-lava-sidecar-error")


def long_header(path: str) -> bytes:
    return get(path, "X-Big: " + "b" * (LIMIT + 10))


def long_target(path: str) -> bytes:
    return get(path + "?q=" + "q" * (LIMIT + 10))


def many_headers(path: str) -> bytes:
    return get(path, *(f"X-H{i}: v" for i in range(12)))


@pytest.mark.parametrize(("request_for", "what"), [
    (long_header, "header section"), (long_target, "request line"), (many_headers, "header count")])
@pytest.mark.parametrize(("path", "shape"), [
    ("/v1/chat/completions", "openai"), ("/anthropic/v1/messages", "anthropic")])
async def test_oversized_heads_get_431_in_the_callers_shape(request_for: object, what: str,
                                                             path: str, shape: str) -> None:
    handled: list[str] = []

    async def handler(ex: Exchange) -> None:
        handled.append(ex.raw_path)
        ex.respond(200, "OK", [], b"fine")

    assert callable(request_for)
    async with serving(handler, max_header_bytes=LIMIT, max_headers=10) as (_, port):
        status, doc, connection, code = await refused(port, request_for(path))
        async with connect(port) as (reader, writer):
            await send(writer, get("/after"))
            after = await read_reply(reader)
    assert (status, connection, code) == (431, ["close"], "request_header_too_large")
    error = doc["error"]
    assert isinstance(error, dict)
    assert error["code"] == "request_header_too_large"
    assert what in error["message"]
    if shape == "anthropic":
        assert (doc["type"], error["type"]) == ("error", "invalid_request_error")
    else:
        assert (error["type"], error["param"]) == ("invalid_request_error", None)
    assert (after.status, after.body, handled) == (200, b"fine", ["/after"])


@pytest.mark.parametrize("request_bytes", [
    pytest.param(b"HELLO THERE\r\n\r\n", id="garbage-request-line"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n", id="control-char-in-value"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
                 id="bad-chunk-size"),
    pytest.param(b"GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n", id="raw-non-ascii-target"),
])
async def test_invalid_http_gets_400_and_the_server_keeps_serving(request_bytes: bytes) -> None:
    async def handler(ex: Exchange) -> None:
        body = await read_all(ex)
        ex.respond(200, "OK", [], b"fine:" + body)

    async with serving(handler) as (_, port):
        status, doc, connection, code = await refused(port, request_bytes)
        async with connect(port) as (reader, writer):
            await send(writer, get("/after"))
            after = await read_reply(reader)
    assert (status, connection, code) == (400, ["close"], "invalid_http")
    error = doc["error"]
    assert isinstance(error, dict)
    assert (error["code"], error["type"]) == ("invalid_http", "invalid_request_error")
    assert (after.status, after.body) == (200, b"fine:")


async def read_all(ex: Exchange) -> bytes:
    parts = []
    while piece := await ex.read():
        parts.append(piece)
    return b"".join(parts)


# -- invalid bytes behind requests already parsed ------------------------------------------------

async def slow_echo(ex: Exchange) -> None:
    """Answers after a few loop turns (the invalid bytes are parsed meanwhile), with its target."""
    for _ in range(5):
        await asyncio.sleep(0.01)
    body = await read_all(ex)
    ex.respond(200, "OK", [], ex.raw_path.encode() + b":" + body)


@pytest.mark.parametrize(("path", "shape"), [
    ("/v1/chat/completions", "openai"), ("/anthropic/v1/messages", "anthropic")])
async def test_body_without_framing_is_answered_empty_then_a_400_in_its_shape(path: str, shape: str) -> None:
    # No Content-Length, no Transfer-Encoding: the request has no body (RFC 9112 6.3), and the bytes
    # that follow are an invalid next request. The first is answered, then the 400, then the close.
    request = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n".encode()
    async with serving(slow_echo) as (_, port), connect(port) as (reader, writer):
        await send(writer, request + b'{"model": "m", "max_tokens": 1}')
        first = await read_reply(reader)
        refusal = await read_reply(reader)
        assert await at_eof(reader)
    assert (first.status, first.body, first.all("Connection")) == (200, path.encode() + b":", [])
    assert (refusal.status, refusal.all("Connection")) == (400, ["close"])
    assert refusal.get("x-lava-sidecar-error") == "invalid_http"
    doc = refusal.json()
    error = doc["error"]
    assert isinstance(error, dict)
    assert error["code"] == "invalid_http"
    assert (doc.get("type"), error["type"]) == (
        ("error" if shape == "anthropic" else None), "invalid_request_error")


async def test_pipelined_requests_before_invalid_bytes_are_all_answered_in_order() -> None:
    async with serving(slow_echo) as (_, port), connect(port) as (reader, writer):
        await send(writer, get("/v1/a") + get("/v1/b") + get("/v1/c") + b"NOT HTTP AT ALL\r\n\r\n")
        replies = [await read_reply(reader) for _ in range(4)]
        assert await at_eof(reader)
    assert [(r.status, r.body) for r in replies[:3]] == [(200, b"/v1/a:"), (200, b"/v1/b:"), (200, b"/v1/c:")]
    assert (replies[3].status, replies[3].get("x-lava-sidecar-error")) == (400, "invalid_http")


async def test_invalid_body_of_a_pipelined_request_is_answered_by_the_400_after_the_first() -> None:
    handled: list[str] = []

    async def handler(ex: Exchange) -> None:
        handled.append(ex.raw_path)
        await slow_echo(ex)

    bad_chunk = b"POST /v1/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"
    async with serving(handler) as (_, port), connect(port) as (reader, writer):
        await send(writer, get("/v1/a") + bad_chunk)
        first = await read_reply(reader)
        refusal = await read_reply(reader)
        assert await at_eof(reader)
    assert (first.status, first.body) == (200, b"/v1/a:")
    assert (refusal.status, refusal.get("x-lava-sidecar-error")) == (400, "invalid_http")
    assert handled == ["/v1/a"]  # the request whose body was invalid never reached the handler


async def test_invalid_bytes_fed_one_at_a_time_behind_a_request() -> None:
    async with serving(slow_echo) as (_, port), connect(port) as (reader, writer):
        for byte in get("/anthropic/v1/messages") + b"{}\r\n\r\n":
            await send(writer, bytes([byte]))
        first = await read_reply(reader)
        refusal = await read_reply(reader)
        assert await at_eof(reader)
    assert (first.status, refusal.status) == (200, 400)
    assert refusal.json()["type"] == "error"  # the shape of the request before it
