"""The timing SSE client: whatever the TCP boundaries, it sees every chunk, the text and the end."""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import payloads, procfs
from bench.streams import (
    EXPECTED_TEXT,
    SseClient,
    StreamResult,
    build_request,
    held_back,
    hold_streams,
    run_streams,
)
from bench.upstream import Fake, _wire

WIRE = b"".join(_wire(payloads.stream_script(payloads.STREAM_TOKENS, include_usage=True)))
GEMINI_WIRE = b"".join(_wire(payloads.gemini_stream_script(payloads.STREAM_TOKENS)))


async def _serve_in_pieces(pieces: list[bytes], *, hang_up: bool = False,
                           gemini: bool = False) -> StreamResult:
    """A real loopback server that answers any request with ``pieces``, one write each, then waits
    for the client to close (or hangs up itself)."""

    handled = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _answer(reader, writer)
        finally:
            handled.set()

    async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0)
        if not hang_up:
            await reader.read()  # the client closes once the response is complete
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(
        lambda: SseClient(build_request(port, "/v1/chat/completions", (), b"{}"), gemini=gemini),
        "127.0.0.1", port)
    try:
        await asyncio.wait_for(proto.finished, 10)
        return proto.result
    finally:
        proto.close()
        await asyncio.wait_for(handled.wait(), 10)
        server.close()
        await server.wait_closed()


def _check(r: StreamResult, usage_chunks: int = 1) -> None:
    assert r.problem() is None, r.problem()
    assert "".join(r.text) == EXPECTED_TEXT
    assert len(r.event_times) == len(payloads.STREAM_TOKENS)
    assert r.event_times == sorted(r.event_times)
    assert r.ttfb_s is not None
    assert r.ttfb_s <= r.event_times[0]
    assert r.usage_chunks == usage_chunks


def test_byte_by_byte() -> None:
    _check(asyncio.run(_serve_in_pieces([WIRE[i:i + 1] for i in range(len(WIRE))])))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=len(WIRE) - 1), max_size=40, unique=True))
def test_random_splits(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(WIRE)]
    _check(asyncio.run(_serve_in_pieces([WIRE[a:b] for a, b in itertools.pairwise(bounds)])))


def test_a_truncated_stream_is_a_problem() -> None:
    r = asyncio.run(_serve_in_pieces([WIRE[: len(WIRE) // 2]], hang_up=True))
    assert r.problem() is not None
    assert "".join(r.text) != EXPECTED_TEXT


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=len(GEMINI_WIRE) - 1), max_size=40, unique=True))
def test_gemini_chunks_in_random_splits(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(GEMINI_WIRE)]
    pieces = [GEMINI_WIRE[a:b] for a, b in itertools.pairwise(bounds)]
    _check(asyncio.run(_serve_in_pieces(pieces, gemini=True)), usage_chunks=0)


def test_a_gemini_stream_ends_at_its_finish_reason() -> None:
    whole = asyncio.run(_serve_in_pieces([GEMINI_WIRE[i:i + 1] for i in range(len(GEMINI_WIRE))],
                                         gemini=True))
    _check(whole, usage_chunks=0)
    # Everything but the final chunk (the one with finishReason), then the connection closes.
    cut = GEMINI_WIRE.rindex(b"data: ")
    r = asyncio.run(_serve_in_pieces([GEMINI_WIRE[:cut]], hang_up=True, gemini=True))
    assert "".join(r.text) == EXPECTED_TEXT
    assert r.problem() is not None


async def test_run_streams_against_the_fake(fake: tuple[Fake, int]) -> None:
    state, port = fake
    batch = await run_streams(port, "/v1/chat/completions", (), payloads.request_body(stream=True),
                              count=6, concurrency=3, spacing=0.001, time_limit=10)
    results = batch.results
    assert batch.client_lag_max_s >= 0
    assert [r.problem() for r in results] == [None] * 6
    assert all(r.usage_chunks == 0 for r in results)  # not asked for, not sent
    assert state.counters.streams == 6
    assert state.counters.streams_open_max <= 3
    assert state.counters.connections <= 3  # kept alive and reused, as an SDK's pool does


async def test_run_streams_reads_the_fakes_gemini_streams(fake: tuple[Fake, int]) -> None:
    state, port = fake
    batch = await run_streams(port, payloads.gemini_path(), (), payloads.gemini_request_body(),
                              count=4, concurrency=2, spacing=0.001, time_limit=10, gemini=True)
    assert [r.problem() for r in batch.results] == [None] * 4
    assert (state.counters.gemini_streams, state.counters.rejected) == (4, 0)


async def test_hold_streams_keeps_them_open_together_then_closes(fake: tuple[Fake, int]) -> None:
    state, port = fake
    seen: list[int] = []

    def sample() -> int:
        seen.append(state.counters.streams_open)
        return procfs.rss_bytes([procfs.os.getpid()])

    res = await hold_streams(port, "/v1/chat/completions", (),
                             payloads.request_body(stream=True, model=payloads.HOLD_MODEL),
                             count=20, open_concurrency=5, time_limit=10, sample=sample)
    assert res.opened == 20
    assert res.errors == 0
    assert res.rss_peak > 0
    assert seen
    assert min(seen) == 20
    for _ in range(200):
        if state.counters.streams_open == 0:
            break
        await asyncio.sleep(0.01)
    assert state.counters.streams_open == 0


def test_held_back_counts_chunks_that_arrive_together_and_blames_client_stalls() -> None:
    interval = 0.020
    # Chunks at 0, 20 and 40 ms, one right behind at 41 ms, one at 60 ms and one right behind at 61 ms.
    times = [0.000, 0.020, 0.040, 0.041, 0.060, 0.061]
    r = StreamResult(status=200, event_times=times, sent_at=100.0, done=True)
    # No client stall: both close pairs were held on the way.
    assert held_back([r], interval, []) == (2, 0)
    # The client stalled from 100.050 to 100.0605: the pair completing at 100.061 is its doing.
    assert held_back([r], interval, [(100.050, 100.0605)]) == (1, 1)
    # Evenly spaced chunks: nothing held back, whatever the client did.
    even = StreamResult(status=200, event_times=[i * interval for i in range(10)], sent_at=5.0)
    assert held_back([even], interval, [(5.0, 6.0)]) == (0, 0)
