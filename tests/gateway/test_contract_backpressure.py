"""Both clients, one contract: a big response to a slow reader is held in bounded memory.

The server writes as fast as the socket lets it and records how much it has handed to the kernel.
Bytes written but not yet read by the test are in kernel buffers or the client's own buffer; if
the client kept reading regardless of its reader, that gap would grow to the whole body.
"""

from __future__ import annotations

import asyncio

import pytest

from .conftest import MakeClient
from .rawserver import Peer, RawServer, Request, keep_alive

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]

TOTAL = 50 * 1024 * 1024
PIECE = 256 * 1024
#: Loopback socket buffers (a few MB each way) plus the client's high-water mark, with room.
BOUND = 16 * 1024 * 1024


async def test_50mb_to_a_slow_reader_in_bounded_memory(make_client: MakeClient) -> None:
    written = 0
    piece = b"z" * PIECE

    async def handle(peer: Peer, req: Request) -> bool:
        nonlocal written
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                        b"Content-Length: %d\r\n\r\n" % TOTAL)
        for _ in range(TOTAL // PIECE):
            await peer.send(piece)
            written += PIECE
        return True

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client()
        up = await client.open("GET", srv.url + "/big", [], None)
        received = slow = widest = 0
        async for chunk in up.chunks():
            received += len(chunk)
            if slow < 20:  # slow at first: long enough for every buffer on the way to fill
                slow += 1
                await asyncio.sleep(0.05)
                widest = max(widest, written - received)
        up.close(reusable=True)
    assert received == TOTAL
    assert widest < BOUND
    assert widest > 0
