"""The fake upstream served in-process on an ephemeral loopback port, fast-paced for tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bench.upstream import Conn, Fake


@pytest.fixture
async def fake() -> AsyncIterator[tuple[Fake, int]]:
    """(the fake's shared state, its port). Streams tick every 2 ms so tests stay quick."""
    state = Fake(interval=0.002, hold_interval=0.05, hold_chunks=40)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Conn(state), "127.0.0.1", 0)
    try:
        yield state, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
