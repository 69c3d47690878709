"""Passthrough: a provider host mapped to a real local server; the gateway relays, never leaks its
own credential, and settles."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

import proxy.usage
from proxy.emulator.server import running_gateway
from proxy.emulator.state import Upstream
from proxy.secret import Secret
from proxy.tokens import Billing, mint
from tests.emulator.gateway_helpers import KEY, OPENAI, openai_client, token

EVENTS = [b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
          b'"choices":[{"index":0,"delta":{"content":"hey"},"finish_reason":null}]}\n\n',
          b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
          b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
          b'"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}\n\n',
          b"data: [DONE]\n\n"]


@asynccontextmanager
async def upstream_server() -> AsyncIterator[tuple[str, list[web.Request], list[bytes]]]:
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def chat(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        bodies.append(await request.read())
        if request.query.get("gzip"):
            return web.Response(body=gzip.compress(b'{"ok":true}'),
                                headers={"Content-Encoding": "gzip",
                                         "Content-Type": "application/json"})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in EVENTS:
            await resp.write(event)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", seen, bodies
    finally:
        await runner.cleanup()


async def test_relays_with_the_upstream_key_not_the_token() -> None:
    async with upstream_server() as (base, seen, bodies):
        mapping = (("api.openai.com", Upstream(base, Secret("sk-upstream"))),)
        async with running_gateway(KEY, passthrough=mapping) as gw, openai_client(gw) as client:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True,
                extra_headers={"x-lava-metadata": '{"a":"b"}', "OpenAI-Beta": "x=1"})
            chunks = [c async for c in stream]
            record = await gw.last.finished()
    (request,) = seen
    assert request.headers["Authorization"] == "Bearer sk-upstream"
    assert request.headers["OpenAI-Beta"] == "x=1"
    assert "x-lava-metadata" not in request.headers
    assert "x-api-key" not in request.headers
    assert json.loads(bodies[0])["model"] == "m"
    assert chunks[0].choices[0].delta.content == "hey"
    assert record.source == "passthrough"
    assert record.complete
    assert record.status == 200
    assert record.served is not None
    assert record.served.status == "completed"
    if hasattr(proxy.usage, "make_extractor"):
        assert record.served.usage.output_tokens == 1
    else:
        assert record.served.usage.source == "missing"


async def test_byok_provider_key_wins_and_bytes_stay_encoded() -> None:
    byok = mint(Secret(KEY), Billing("cus_1", "tokens", provider_key=Secret("sk-mine")))
    async with upstream_server() as (base, seen, _):
        mapping = (("api.openai.com", Upstream(base, Secret("sk-upstream"))),)
        async with running_gateway(KEY, passthrough=mapping) as gw, \
                aiohttp.ClientSession(auto_decompress=False) as s:
            async with s.post(gw.forward_url(OPENAI + "/chat/completions?gzip=1"), json={},
                              headers={"Authorization": "Bearer " + byok}) as r:
                raw = await r.read()
                encoding = r.headers.get("Content-Encoding")
            await gw.last.finished()
    assert seen[0].headers["Authorization"] == "Bearer sk-mine"
    assert seen[0].query["gzip"] == "1"
    assert encoding == "gzip"
    assert gzip.decompress(raw) == b'{"ok":true}'


async def test_unreachable_upstream_is_a_502() -> None:
    with socket.socket() as sock:  # a port nobody listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mapping = (("api.openai.com", Upstream(f"http://127.0.0.1:{port}")),)
    async with running_gateway(KEY, passthrough=mapping) as gw, aiohttp.ClientSession() as s:
        async with s.post(gw.forward_url(OPENAI + "/chat/completions"), json={},
                          headers={"Authorization": "Bearer " + token()}) as r:
            body = await r.json()
        seen = await gw.last.finished()
    assert r.status == 502
    assert body["error"]["code"] == "upstream_unreachable"
    assert seen.served is not None
    assert seen.served.status == "error"


async def test_other_hosts_still_get_the_mock() -> None:
    mapping = (("api.groq.com", Upstream("http://127.0.0.1:9")),)
    async with running_gateway(KEY, passthrough=mapping) as gw, openai_client(gw) as client:
        r = await client.chat.completions.create(model="gpt-5-nano",
                                                 messages=[{"role": "user", "content": "x"}])
    assert r.usage is not None
    assert gw.last.source == "mock"
