"""Streams are relayed as they arrive: nothing buffered, nothing re-serialised."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import aiohttp

from proxy.emulator.providers import Pacing

from .faults.harness import running_sidecar
from .gateway.rawserver import Peer, RawServer
from .stack import CUSTOMER_HEADERS, running_stack

BODY = b'{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},' \
       b'"messages":[{"role":"user","content":"hi"}]}'


async def test_first_chunk_arrives_while_upstream_still_sends(tmp_path: Path) -> None:
    pacing = Pacing(chunks=6, delay=0.25)
    async with running_stack(tmp_path, gateway_options={"pacing": pacing}) as stack, \
            aiohttp.ClientSession() as http, \
            http.post(stack.url + "/v1/chat/completions", data=BODY,
                      headers={**CUSTOMER_HEADERS, "Content-Type": "application/json"}) as resp:
        assert resp.status == 200
        first = await resp.content.readany()
        seen = stack.gateway.last
        # The gateway has not finished sending: the chunk came through on its own.
        assert first.startswith(b"data: ")
        assert not seen.done.is_set()
        rest = await resp.read()
        await seen.finished()
    # With the client's own include_usage the stream is relayed byte for byte.
    assert b"data: [DONE]" in rest
    assert b'"usage":{' in first + rest


async def test_no_chunk_held_back(tmp_path: Path) -> None:
    """Each upstream event reaches the client before the next one is sent."""
    pacing = Pacing(chunks=4, delay=0.2)
    async with running_stack(tmp_path, gateway_options={"pacing": pacing}) as stack, \
            aiohttp.ClientSession() as http, \
            http.post(stack.url + "/v1/chat/completions", data=BODY,
                      headers={**CUSTOMER_HEADERS, "Content-Type": "application/json"}) as resp:
        loop = asyncio.get_running_loop()
        arrivals: list[float] = []
        buffered = b""
        async for chunk in resp.content.iter_any():
            buffered += chunk
            while b"\n\n" in buffered:
                _, buffered = buffered.split(b"\n\n", 1)
                arrivals.append(loop.time())
    content_events = len(arrivals)
    assert content_events >= 6  # role, 4 content chunks, finish, usage, [DONE]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # Paced chunks arrive one by one (a held-back chunk would show as a near-zero gap after a long one).
    assert sum(1 for g in gaps if g > 0.1) >= 3


async def test_sse_head_is_not_held_while_the_model_thinks(tmp_path: Path) -> None:
    """The head waits briefly for the first event, so both leave in one write, but never until
    it: here the gateway sends no event until the client has seen the response begin."""
    release = asyncio.Event()
    sent_event = asyncio.Event()

    async def gateway(peer: Peer) -> None:
        if await peer.read_request() is None:
            return
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n")
        await release.wait()
        event = (b'data: {"id":"c1","object":"chat.completion.chunk","model":"m",'
                 b'"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n')
        sent_event.set()
        await peer.send(b"%x\r\n%b\r\n0\r\n\r\n" % (len(event), event))
        await peer.close()

    body = (b'{"model":"m","stream":true,"stream_options":{"include_usage":true},'
            b'"messages":[{"role":"user","content":"think"}]}')
    async with RawServer(gateway) as srv, running_sidecar(tmp_path, srv.url) as sc, \
            aiohttp.ClientSession() as http, \
            http.post(sc.url + "/v1/chat/completions", data=body,
                      headers={**CUSTOMER_HEADERS, "Content-Type": "application/json"}) as resp:
        assert resp.status == 200  # the head arrived ...
        assert not sent_event.is_set()  # ... before the gateway sent any event
        release.set()
        rest = await resp.read()
    assert rest.endswith(b"data: [DONE]\n\n")
