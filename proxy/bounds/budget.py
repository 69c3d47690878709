"""``BodyBudget``: the bytes of request bodies held in memory across all requests, capped.

What is counted is what is held: a body the sidecar still has to receive takes room for each
chunk as it arrives (``BodyBuffer``), not for the length it announces; a chunk that does not fit
waits up to ``buffer_wait`` for room, in arrival order, then its body is refused
(``BodyBufferFull``, 503). A body that came whole with its head is already in memory: it is
counted, never refused (refusing it would free nothing). Room is given back when the bytes are
let go of: when the request ends, or at once when its body is refused. O(1) per chunk on the
fast path: an addition and a subtraction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from ..errors import BodyBufferFull


class BodyBudget:
    __slots__ = ("_waiters", "capacity", "held", "refusals", "wait")

    def __init__(self, capacity: int, wait: float) -> None:
        self.capacity = capacity
        self.wait = wait
        #: Bytes taken and not yet given back.
        self.held = 0
        #: Bodies refused for want of room (``lava_sidecar_body_buffer_refusals_total``).
        self.refusals = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def count(self, n: int) -> None:
        """Bytes already in memory (a body that arrived with its head): counted, never refused."""
        self.held += n

    async def take(self, n: int) -> None:
        """Room for ``n`` more bytes, waiting up to ``wait`` for it; raises ``BodyBufferFull``."""
        if not self._waiters and self.held + n <= self.capacity:
            self.held += n
            return
        waiter = asyncio.get_running_loop().create_future()
        entry = (n, waiter)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(self.wait):
                await waiter  # resolved by ``give``, which has taken the room for us
        except TimeoutError:
            if _granted(waiter):  # room came just as the wait ran out: keep it
                return
            self._forget(entry)
            self.refusals += 1
            raise BodyBufferFull(
                "The sidecar is holding as many request bodies in memory as it is allowed "
                f"(limits.max_buffered_body_bytes = {self.capacity} bytes) and no room freed "
                f"within {self.wait:g} s; retry in a moment, or raise the limit.") from None
        except BaseException:
            if _granted(waiter):
                self.held -= n  # given room, then cancelled: hand it on
                self._wake()
            else:
                self._forget(entry)
            raise

    def give(self, n: int) -> None:
        """Bytes no longer held (the request ended)."""
        if n:
            self.held -= n
            if self._waiters:
                self._wake()

    def _forget(self, entry: tuple[int, asyncio.Future[None]]) -> None:
        with contextlib.suppress(ValueError):  # ``_wake`` may have dropped it, cancelled, already
            self._waiters.remove(entry)

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters:
            n, waiter = waiters[0]
            if waiter.done():
                waiters.popleft()
                continue
            if self.held + n > self.capacity:
                return  # first come, first served: a big body is not overtaken forever
            waiters.popleft()
            self.held += n
            waiter.set_result(None)


def _granted(waiter: asyncio.Future[None]) -> bool:
    return waiter.done() and not waiter.cancelled()
