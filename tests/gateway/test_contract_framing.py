"""Both clients, one contract: what goes on the wire and how each response framing is read."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

from .conftest import MakeClient
from .rawserver import Peer, RawServer, Request, chunked, keep_alive, read_all, response

CHAT = json.dumps({"id": "chatcmpl-1", "usage": {"prompt_tokens": 3, "completion_tokens": 5}}).encode()


async def test_json_with_content_length_and_the_request_as_sent(make_client: MakeClient) -> None:
    seen: list[Request] = []

    async def handle(peer: Peer, req: Request) -> bool:
        seen.append(req)
        await peer.send(response("201 Created Here", CHAT, [
            ("Content-Type", "application/json"), ("X-Lava-Request-Id", "req_1"),
            ("set-cookie", "a=1"), ("Set-Cookie", "b=2")]))
        return True

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client()
        headers = [("Content-Type", "application/json"), ("Authorization", "Bearer tok"),
                   ("anthropic-Beta", "x,y"), ("X-Custom", "1"), ("X-Custom", "2")]
        target = "/v1/forward?u=https%3A%2F%2Fapi.openai.com%2Fv1%2Fchat%2Fcompletions"
        up = await client.open("POST", srv.url + target, [(k.encode(), v.encode()) for k, v in headers],
                               b'{"model":"m"}')
        assert (up.status, up.reason) == (201, "Created Here")
        assert up.headers.get("content-type") == "application/json"
        assert up.headers.get("x-lava-request-id") == "req_1"
        items = up.header_items()
        assert ("X-Lava-Request-Id", "req_1") in items
        assert [v for k, v in items if k.lower() == "set-cookie"] == ["a=1", "b=2"]
        assert up.received_at <= asyncio.get_running_loop().time()
        assert await read_all(up.chunks()) == CHAT
        up.close(reusable=True)
        up.close(reusable=True)  # idempotent

    (req,) = seen
    assert (req.method, req.body) == ("POST", b'{"model":"m"}')
    # aiohttp (yarl) un-escapes ":" and "/" inside the query; what Lava decodes is the same URL.
    assert urlsplit(req.target).path == "/v1/forward"
    assert parse_qs(urlsplit(req.target).query) == {"u": ["https://api.openai.com/v1/chat/completions"]}
    assert req.header("host") == f"127.0.0.1:{srv.port}"
    assert req.header("content-length") == "13"
    sent = [(k, v) for k, v in req.headers if k.lower() in {"content-type", "authorization",
                                                          "anthropic-beta", "x-custom"}]
    assert sent == headers


async def test_sse_chunks_arrive_as_they_are_sent(make_client: MakeClient) -> None:
    first_seen = asyncio.Event()
    events = [b"data: {\"n\":1}\n\n", b"data: {\"n\":2}\n\n", b"data: [DONE]\n\n"]

    async def handle(peer: Peer, req: Request) -> bool:
        await peer.send(response("200 OK", headers=[("Content-Type", "text/event-stream"),
                                                    ("Transfer-Encoding", "chunked")], length=False))
        await peer.send(chunked(events[0]))
        await first_seen.wait()  # the client must see event 1 before event 2 exists
        await peer.send(chunked(events[1]))
        await peer.send(chunked(events[2]) + b"0\r\n\r\n")
        return True

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client()
        up = await client.open("POST", srv.url + "/v1/forward", [], b"{}")
        got = b""
        async for chunk in up.chunks():
            got += chunk
            if got == events[0]:
                first_seen.set()
        assert got == b"".join(events)
        up.close(reusable=True)


async def test_close_delimited_body(make_client: MakeClient) -> None:
    body = b"x" * 100_000

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(response("200 OK", headers=[("Content-Type", "text/plain")], length=False))
        await peer.send(body)
        await peer.close()

    async with RawServer(handler) as srv:
        client = await make_client()
        up = await client.open("GET", srv.url + "/", [], None)
        assert await read_all(up.chunks()) == body
        up.close(reusable=True)
        up = await client.open("GET", srv.url + "/", [], None)
        assert await read_all(up.chunks()) == body
        up.close(reusable=True)
    assert srv.connections == 2


async def test_responses_without_a_body(make_client: MakeClient) -> None:
    async def handle(peer: Peer, req: Request) -> bool:
        if req.method == "HEAD":
            # A HEAD answer announces the length it would have, and sends nothing.
            await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
        elif req.target == "/204":
            await peer.send(b"HTTP/1.1 204 No Content\r\n\r\n")
        elif req.target == "/304":
            await peer.send(b"HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n")
        else:
            await peer.send(b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
                            + response("200 OK", b"final", [("X-Final", "yes")]))
        return True

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client()
        for method, path, status, body in [("HEAD", "/", 200, b""), ("GET", "/204", 204, b""),
                                           ("GET", "/304", 304, b""), ("GET", "/103", 200, b"final"),
                                           ("HEAD", "/", 200, b"")]:
            up = await client.open(method, srv.url + path, [], None)
            assert up.status == status
            assert await read_all(up.chunks()) == body
            if status == 200 and body:
                assert up.headers.get("x-final") == "yes"
                assert up.headers.get("link") is None
            up.close(reusable=True)
    assert srv.connections == 1


async def test_chunked_upload_from_an_async_iterator(make_client: MakeClient) -> None:
    seen: list[Request] = []

    async def handle(peer: Peer, req: Request) -> bool:
        seen.append(req)
        await peer.send(response("200 OK", b"ok"))
        return True

    parts = [b"a" * 10, b"", b"b" * 70_000, b"c"]

    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            await asyncio.sleep(0)
            yield part

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client()
        up = await client.open("POST", srv.url + "/upload", [(b"Content-Type", b"audio/wav")], body())
        assert await read_all(up.chunks()) == b"ok"
        up.close(reusable=True)

    (req,) = seen
    assert req.header("transfer-encoding") == "chunked"
    assert req.header("content-length") is None
    assert req.body == b"".join(parts)
    assert len(req.chunk_sizes) >= 1
