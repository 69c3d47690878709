"""Both clients, one contract: the body pushed to a sink (``stream_to``, what the relay uses).

Pieces arrive as they are sent, the connection is reused after a whole body, ``stop`` ends the
reading at once, a broken body raises, a sink that pauses reading holds the rest of a big body in
bounded memory, and a cancelled reader never hands the connection back.
"""

from __future__ import annotations

import asyncio

import pytest

from proxy.gateway import UpstreamError, UpstreamResponse

from .conftest import MakeClient
from .rawserver import Peer, RawServer, Request, chunked, keep_alive, response

pytestmark = pytest.mark.timeout(60)

EVENTS = [b'data: {"n":1}\n\n', b'data: {"n":2}\n\n', b"data: [DONE]\n\n"]
SSE_HEAD = response("200 OK", headers=[("Content-Type", "text/event-stream"),
                                       ("Transfer-Encoding", "chunked")], length=False)


async def test_pieces_reach_the_sink_as_they_are_sent_and_the_connection_is_reused(
        make_client: MakeClient) -> None:
    first_seen = asyncio.Event()
    peers: list[int] = []

    async def handle(peer: Peer, req: Request) -> bool:
        peers.append(peer.index)
        await peer.send(SSE_HEAD + chunked(EVENTS[0]))
        await first_seen.wait()  # event 2 exists only once the sink had event 1
        await peer.send(chunked(EVENTS[1]) + chunked(EVENTS[2]) + b"0\r\n\r\n")
        return True

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client()
        for _ in range(2):
            first_seen.clear()
            got: list[bytes] = []

            def sink(piece: bytes, got: list[bytes] = got) -> None:
                got.append(piece)
                if b"".join(got) == EVENTS[0]:
                    first_seen.set()

            up = await client.open("POST", srv.url + "/v1/forward", [], b"{}")
            await up.stream_to(sink)
            assert b"".join(got) == b"".join(EVENTS)
            up.close(reusable=True)
    assert len(peers) == 2
    assert peers[0] == peers[1]  # one connection served both


async def test_stop_from_the_sink_ends_the_reading_and_nothing_more_arrives(
        make_client: MakeClient) -> None:
    async def handle(peer: Peer, req: Request) -> bool:
        await peer.send(SSE_HEAD + chunked(EVENTS[0]))
        await asyncio.sleep(0.05)
        await peer.send(chunked(EVENTS[1]))
        await asyncio.sleep(30)
        return False

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client()
        up = await client.open("POST", srv.url + "/v1/forward", [], b"{}")
        got: list[bytes] = []

        def sink(piece: bytes) -> None:
            got.append(piece)
            up.stop()  # the relay's client left

        async with asyncio.timeout(5):
            await up.stream_to(sink)
        await asyncio.sleep(0.2)  # event 2 was sent meanwhile: it is not handed over
        assert got == [EVENTS[0]]
        up.close(reusable=False)


async def test_a_body_broken_off_raises(make_client: MakeClient) -> None:
    async def handle(peer: Peer, req: Request) -> bool:
        await peer.send(SSE_HEAD + chunked(EVENTS[0]))
        peer.reset()
        return False

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client()
        up = await client.open("POST", srv.url + "/v1/forward", [], b"{}")
        got: list[bytes] = []
        with pytest.raises(UpstreamError) as err:
            await up.stream_to(got.append)
        assert err.value.reason == "reset"
        assert b"".join(got) == EVENTS[0]
        up.close(reusable=False)


TOTAL = 32 * 1024 * 1024
PIECE = 256 * 1024
#: Loopback socket buffers (a few MB each way) plus the client's own buffer, with room.
BOUND = 16 * 1024 * 1024


@pytest.mark.slow
async def test_a_sink_that_pauses_reading_holds_a_big_body_in_bounded_memory(
        make_client: MakeClient) -> None:
    written = 0

    async def handle(peer: Peer, req: Request) -> bool:
        nonlocal written
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % TOTAL)
        for _ in range(TOTAL // PIECE):
            await peer.send(b"z" * PIECE)
            written += PIECE
        return True

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client()
        up = await client.open("GET", srv.url + "/big", [], None)
        loop = asyncio.get_running_loop()
        received = widest = stalls = 0

        def sink(piece: bytes) -> None:
            # As the relay does for a client that is not draining: pause, and resume a moment
            # later (here, the first twenty times, long enough for every buffer to fill).
            nonlocal received, stalls
            received += len(piece)
            if stalls < 20:
                stalls += 1
                up.pause_reading()
                loop.call_later(0.05, resume, up)

        def resume(r: UpstreamResponse) -> None:
            nonlocal widest
            widest = max(widest, written - received)
            r.resume_reading()

        async with asyncio.timeout(50):
            await up.stream_to(sink)
        up.close(reusable=True)
    assert received == TOTAL
    assert 0 < widest < BOUND


async def test_cancelled_mid_body_the_connection_is_not_reused(make_client: MakeClient) -> None:
    peers: list[int] = []

    async def handle(peer: Peer, req: Request) -> bool:
        peers.append(peer.index)
        if len(peers) == 1:
            await peer.send(SSE_HEAD + chunked(EVENTS[0]))
            await asyncio.sleep(30)
            return False
        await peer.send(response("200 OK", b"{}"))
        return True

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client()
        up = await client.open("POST", srv.url + "/v1/forward", [], b"{}")
        arrived = asyncio.Event()
        task = asyncio.create_task(up.stream_to(lambda piece: arrived.set()))
        await asyncio.wait_for(arrived.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        up.close(reusable=True)  # what the handler's finish does; it must not reuse it
        second = await client.open("POST", srv.url + "/v1/forward", [], b"{}")
        body: list[bytes] = []
        await second.stream_to(body.append)
        second.close(reusable=True)
    assert b"".join(body) == b"{}"
    assert len(peers) == 2
    assert peers[0] != peers[1]
