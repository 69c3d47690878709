"""A body refused while it is read (408 stalled, 413 too large, 503 no room) lets go of its memory
when its request ends, not at the next full garbage collection (issue 24): with the collector off,
nothing refers to the request's ``BodyBuffer``, its reader's frame or its ``Exchange`` once the
request is recorded, and the body budget is back to zero.

The whole path in-process (the local Lava, the sidecar on loopback, a raw socket client); the
buffer is found among live objects while the body arrives and watched through a weak reference.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import types
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from proxy.bounds import BodyBuffer, ClientBounds
from proxy.config import Limits
from proxy.inbound import Exchange
from proxy.pipeline.cycle import RequestCycle

from ..stack import Stack, running_stack

pytestmark = pytest.mark.timeout(60)

CHAT = "/v1/chat/completions"
LIMIT = 256 * 1024


def head(*, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (f"POST {CHAT} HTTP/1.1\r\nHost: s\r\nContent-Type: application/json\r\n"
            f"X-Lava-Customer-Id: cus_alpha\r\nX-Lava-Meter: chat-tokens\r\n{framing}\r\n\r\n").encode()


@contextmanager
def no_collector() -> Iterator[None]:
    """Only reference counts free anything meanwhile: what a cycle holds stays held."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@asynccontextmanager
async def stack(tmp: Path, **bounds: float) -> AsyncIterator[Stack]:
    limits = Limits(max_body_bytes=LIMIT)
    cb = dataclasses.replace(ClientBounds(), max_buffered_body_bytes=LIMIT, **bounds)
    async with running_stack(tmp, limits=limits, bounds=cb) as s:
        yield s


async def held_buffer(*known: weakref.ref[BodyBuffer]) -> weakref.ref[BodyBuffer]:
    """The body being read whole right now that is not one of ``known`` (once it holds bytes)."""
    async with asyncio.timeout(10):
        while True:
            found = [o for o in gc.get_objects() if isinstance(o, BodyBuffer) and o.size
                     and all(k() is not o for k in known)]
            if found:
                assert len(found) == 1
                return weakref.ref(found[0])
            await asyncio.sleep(0.01)


async def until(check: Callable[[], bool]) -> None:
    """Poll until ``check`` holds (bounded; waiting for an outcome, not timing it)."""
    async with asyncio.timeout(10):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


def live(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, kind))


def reader_frames() -> list[str]:
    return [o.f_code.co_name for o in gc.get_objects()
            if isinstance(o, types.FrameType) and o.f_code.co_name in ("read_body", "forward")]


async def status_of(reader: asyncio.StreamReader) -> int:
    line = await reader.readline()
    return int(line.split(b" ", 2)[1])


async def assert_let_go(s: Stack, buf: weakref.ref[BodyBuffer]) -> None:
    rt = s.running.runtime
    await until(lambda: rt.inflight.requests == 0)
    assert buf() is None, f"still referred to by {[type(r).__name__ for r in gc.get_referrers(buf())]}"
    assert reader_frames() == []
    assert live(RequestCycle) == 0
    assert s.running.runtime.body_budget.held == 0


async def test_a_stalled_body_is_freed_by_its_408_not_by_a_gc_pass(tmp_path: Path) -> None:
    async with stack(tmp_path, body_idle_timeout=0.3) as s:
        with no_collector():
            reader, writer = await asyncio.open_connection(*s.running.proxy_address)
            writer.write(head(length=LIMIT) + b"x" * (LIMIT - 1))
            buf = await held_buffer()
            assert await status_of(reader) == 408
            await assert_let_go(s, buf)
            writer.close()
            # Once the connection is gone its exchange goes too (the parser's cycle with the
            # connection no longer holds it).
            await until(lambda: live(Exchange) == 0)
    assert [r["error_code"] for r in s.log_lines()] == ["request_body_timeout"]


async def test_a_chunked_body_over_the_limit_is_freed_by_its_413(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        with no_collector():
            reader, writer = await asyncio.open_connection(*s.running.proxy_address)
            piece = b"x" * (64 * 1024)
            writer.write(head(length=None) + b"%x\r\n%s\r\n" % (len(piece), piece))
            buf = await held_buffer()
            for _ in range(LIMIT // len(piece)):
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            assert await status_of(reader) == 413
            await assert_let_go(s, buf)
            writer.close()
    assert [r["error_code"] for r in s.log_lines()] == ["request_too_large"]


async def test_a_body_refused_for_want_of_room_is_freed_by_its_503(tmp_path: Path) -> None:
    async with stack(tmp_path, body_idle_timeout=5.0, buffer_wait=0.2) as s:
        with no_collector():
            # The first body holds nearly all the room; the second holds a little, then waits for
            # more and is refused.
            _, w1 = await asyncio.open_connection(*s.running.proxy_address)
            w1.write(head(length=LIMIT) + b"x" * (LIMIT - 1000))
            first = await held_buffer()
            r2, w2 = await asyncio.open_connection(*s.running.proxy_address)
            w2.write(head(length=LIMIT) + b"x" * 500)
            second = await held_buffer(first)
            w2.write(b"x" * 2000)
            assert await status_of(r2) == 503
            held = first()
            assert held is not None
            assert held.size == LIMIT - 1000
            del held
            w1.close()  # the first client leaves: its body goes as its handler is cancelled
            await assert_let_go(s, second)
            assert first() is None
            w2.close()
    codes = sorted(r["error_code"] or "" for r in s.log_lines())
    assert codes == ["", "request_buffer_full"]
