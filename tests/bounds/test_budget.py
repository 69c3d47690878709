"""``BodyBudget`` on a real event loop: room taken and given back, a body that does not fit waits
in arrival order and gets room as it frees, or is refused (``BodyBufferFull``) when none frees."""

from __future__ import annotations

import asyncio

import pytest

from proxy.bounds import BodyBudget
from proxy.errors import BodyBufferFull


async def test_room_is_taken_and_given_back() -> None:
    b = BodyBudget(100, wait=0.05)
    await b.take(60)
    await b.take(40)
    assert b.held == 100
    b.give(100)
    assert b.held == 0


async def test_a_body_already_in_memory_is_counted_never_refused() -> None:
    b = BodyBudget(100, wait=0.05)
    await b.take(100)
    b.count(50)
    assert b.held == 150
    assert b.refusals == 0


async def test_no_room_in_time_is_a_503_and_counted() -> None:
    b = BodyBudget(100, wait=0.05)
    await b.take(80)
    with pytest.raises(BodyBufferFull) as info:
        await b.take(30)
    assert info.value.status == 503
    assert info.value.code == "request_buffer_full"
    assert ("retry-after", "1") in info.value.headers()
    assert "limits.max_buffered_body_bytes" in info.value.message
    assert (b.held, b.refusals) == (80, 1)


async def test_waiters_get_room_in_arrival_order_as_it_frees() -> None:
    b = BodyBudget(100, wait=5.0)
    await b.take(100)
    order: list[str] = []

    async def want(name: str, n: int) -> None:
        await b.take(n)
        order.append(name)

    big = asyncio.ensure_future(want("big", 80))
    small = asyncio.ensure_future(want("small", 10))
    await asyncio.sleep(0)
    b.give(50)  # room for the small one only: it still waits behind the big one
    await asyncio.sleep(0.01)
    assert order == []
    b.give(50)
    await asyncio.gather(big, small)
    assert order == ["big", "small"]
    assert b.held == 90


async def test_a_cancelled_waiter_leaves_no_room_taken() -> None:
    b = BodyBudget(100, wait=5.0)
    await b.take(100)
    waiter = asyncio.ensure_future(b.take(50))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    b.give(100)
    assert b.held == 0
    await b.take(100)  # nothing stuck in front
