"""The connection's parsing, fed by hand: any split of a response's bytes reads the same."""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.gateway import UpstreamError
from proxy.gateway.lean.connection import Connection, Limits
from proxy.gateway.lean.pool import Pool
from proxy.gateway.lean.response import LeanResponse


class Wire(asyncio.Transport):
    """The transport end a test holds: records what the connection asks of the socket."""

    def __init__(self) -> None:
        super().__init__()
        self.aborted = False
        self.paused = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


TOKEN = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True).filter(
    lambda n: n.lower() not in {"content-length", "transfer-encoding", "connection"})
VALUE = st.from_regex(r"[!-~]([ !-~]{0,30}[!-~])?", fullmatch=True)


@st.composite
def responses(draw: st.DrawFn) -> tuple[bytes, int, str, list[tuple[str, str]], bytes, str]:
    status = draw(st.sampled_from([200, 201, 400, 402, 429, 500, 503]))
    reason = draw(st.sampled_from(["OK", "Created", "Bad Request", "Payment Required", "", "X Y Z"]))
    headers = draw(st.lists(st.tuples(TOKEN, VALUE), max_size=8))
    body = draw(st.binary(max_size=3000))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    if framing == "length":
        headers = [*headers, ("Content-Length", str(len(body)))]
        wire_body = body
    elif framing == "chunked":
        headers = [*headers, ("Transfer-Encoding", "chunked")]
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=6)))
        parts = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        wire_body = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"
    else:
        wire_body = body
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + wire_body, status, reason, headers, body, framing


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True) if data[a:b]]


async def read_back(pieces: list[bytes], close_after: bool) -> tuple[LeanResponse, bytes]:
    loop = asyncio.get_running_loop()
    pool = Pool(loop, 10, keepalive=15.0, resolution=0.01)
    conn = Connection(pool, "http://h", loop, Limits())
    conn.connection_made(Wire())
    pool.dialled(conn)
    resp = LeanResponse(conn, loop, head_only=False)
    conn.begin(resp, math.inf)
    for piece in pieces:
        conn.data_received(piece)
    if close_after:
        conn.connection_lost(None)
    await resp.wait_head()
    body = b"".join([c async for c in resp.chunks()])
    resp.close(reusable=True)
    await pool.aclose()
    return resp, body


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(responses(), st.lists(st.integers(min_value=0), max_size=40), st.booleans())
def test_any_split_reads_the_same(resp_case: tuple[bytes, int, str, list[tuple[str, str]], bytes, str],
                                  cuts: list[int], byte_by_byte: bool) -> None:
    data, status, reason, headers, body, framing = resp_case
    pieces = [data[i:i + 1] for i in range(len(data))] if byte_by_byte else splits(data, cuts)
    resp, got = asyncio.run(read_back(pieces, close_after=framing == "close"))
    assert (resp.status, resp.reason, resp.header_items(), got) == (status, reason, headers, body)


def test_a_second_response_nobody_asked_for_spoils_the_connection() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        pool = Pool(loop, 10, keepalive=15.0, resolution=0.01)
        conn = Connection(pool, "http://h", loop, Limits())
        wire = Wire()
        conn.connection_made(wire)
        pool.dialled(conn)
        resp = LeanResponse(conn, loop, head_only=False)
        conn.begin(resp, math.inf)
        conn.data_received(data)
        await resp.wait_head()
        assert b"".join([c async for c in resp.chunks()]) == b"ok"  # the answer itself is whole
        resp.close(reusable=True)
        assert wire.aborted
        assert pool.take_idle("http://h") is None
        await pool.aclose()

    asyncio.run(scenario())


def test_head_limit_counts_interim_responses() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        pool = Pool(loop, 10, keepalive=15.0, resolution=0.01)
        conn = Connection(pool, "http://h", loop, Limits(max_head_bytes=1000))
        conn.connection_made(Wire())
        pool.dialled(conn)
        resp = LeanResponse(conn, loop, head_only=False)
        conn.begin(resp, math.inf)
        for _ in range(100):
            conn.data_received(b"HTTP/1.1 100 Continue\r\n\r\n")
        with pytest.raises(UpstreamError) as err:
            await resp.wait_head()
        assert err.value.reason == "protocol"
        await pool.aclose()

    asyncio.run(scenario())


def test_received_at_is_perf_counter_time_even_late_in_a_busy_loop_iteration() -> None:
    """``received_at`` feeds the overhead figure, which subtracts ``perf_counter()`` values from
    it. Under uvloop the loop clock is cached for the whole iteration, at millisecond resolution:
    headers parsed late in a busy iteration must still be stamped with the time they arrived."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        pool = Pool(loop, 10, keepalive=15.0, resolution=0.01)
        conn = Connection(pool, "http://h", loop, Limits())
        conn.connection_made(Wire())
        pool.dialled(conn)
        resp = LeanResponse(conn, loop, head_only=False)
        conn.begin(resp, math.inf)
        await asyncio.sleep(0)  # a fresh iteration: its loop clock is read now
        busy_until = time.perf_counter() + 0.02
        while time.perf_counter() < busy_until:  # the rest of the iteration is busy
            pass
        before = time.perf_counter()
        conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        after = time.perf_counter()
        return before, resp.received_at, after

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        before, received, after = runner.run(scenario())
    assert before <= received <= after
