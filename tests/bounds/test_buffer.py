"""``BodyBuffer``: a body read whole counts what it holds, chunk by chunk, in the ``BodyBudget``;
joining passes its room on; releasing drops its bytes and gives the room back at once, and the
bytes are then referred to by nothing (freed by reference counting, not a GC pass)."""

from __future__ import annotations

import gc
import weakref

import pytest

from proxy.bounds import BodyBudget, BodyBuffer
from proxy.errors import BodyBufferFull


class Chunk(bytearray):
    """Bytes whose lifetime a weak reference can watch (``bytes`` takes none)."""


async def test_each_chunk_is_counted_as_it_is_held() -> None:
    budget = BodyBudget(1000, wait=0.05)
    buf = BodyBuffer(budget)
    for piece in (b"a" * 100, b"b" * 250):
        await buf.add(piece)
    assert (buf.size, budget.held) == (350, 350)
    body, held = buf.join()
    assert (body, held) == (b"a" * 100 + b"b" * 250, 350)
    # The room passed to whoever took the body; the buffer holds nothing.
    assert (buf.size, budget.held) == (0, 350)
    budget.give(held)
    assert budget.held == 0


async def test_release_gives_the_room_back_and_lets_go_of_the_bytes() -> None:
    budget = BodyBudget(1000, wait=0.05)
    buf = BodyBuffer(budget)
    gc.disable()
    try:
        chunk = Chunk(b"x" * 400)
        watch = weakref.ref(chunk)
        await buf.add(chunk)
        del chunk
        assert watch() is not None
        buf.release()
        assert watch() is None  # no cycle holds it: gone without a collection
    finally:
        gc.enable()
    assert (buf.size, budget.held) == (0, 0)


async def test_a_chunk_that_does_not_fit_is_refused_and_not_held() -> None:
    budget = BodyBudget(500, wait=0.05)
    buf = BodyBuffer(budget)
    await buf.add(b"x" * 400)
    with pytest.raises(BodyBufferFull):
        await buf.add(b"y" * 200)
    assert (buf.size, budget.held, budget.refusals) == (400, 400, 1)
    buf.release()
    assert budget.held == 0
