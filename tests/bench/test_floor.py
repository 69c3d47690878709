"""bench.floor, both modes, as real processes: bytes relayed verbatim both ways, and the client's
connection closed when the upstream closes its own (the yardstick must behave like a proxy)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from bench.targets import accepts
from tests.ports import listen_port

REPO = Path(__file__).resolve().parents[2]
BODY = b'data: {"choices":[],"usage":{"prompt_tokens":3}}\n\n'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n" + b"%x\r\n%b\r\n0\r\n\r\n" % (len(BODY), BODY))
REQUEST = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


@pytest.mark.parametrize("sees_body", [False, True], ids=["python-floor", "floor-sees-body"])
async def test_the_floor_relays_verbatim_and_closes_when_the_upstream_does(sees_body: bool) -> None:
    got: list[bytes] = []

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append(await reader.readexactly(len(REQUEST)))
        writer.write(RESPONSE)
        await writer.drain()
        writer.close()  # the upstream ends the connection: so must the floor, to its client

    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    up_port = server.sockets[0].getsockname()[1]
    port = listen_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.floor", "--upstream", str(up_port), "--port", str(port),
        *(["--sees-body"] if sees_body else []), cwd=REPO)
    try:
        deadline = time.monotonic() + 15
        while not await asyncio.to_thread(accepts, port):
            assert time.monotonic() < deadline, "bench.floor did not listen"
            await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        await writer.drain()
        # Everything up to EOF: a floor that kept the client open past its upstream hangs here.
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
        assert answer == RESPONSE
        assert got == [REQUEST]
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
        server.close()
        await server.wait_closed()
