"""One Redis node's connections: a few redis-py connections, opened before the first request, each
carrying at most one exchange (a command, or several pipelined) at a time.

The deadline measures Redis, not this process: it starts when the bytes are written, never while
a batch waits for a free connection, and when its timer fires late (this event loop was busy or
the process was descheduled, so a reply may be sitting unread in the socket) it starts over
(``Deadline``). A ``LinkError`` says whether the command was sent: an
exchange that failed before writing (connection refused) left nothing behind in Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

#: Batches in flight per node. One: while it is out the next one forms (Redis runs scripts one
#: at a time anyway, so a second in flight would only queue there), and a batch's deadline then
#: never includes time spent behind another of ours (256 admissions of 256 customers take ~12 ms
#: of Redis on this VM). Four measured the same CPU per request.
WIDTH: Final = 1


class LinkError(Exception):
    """An exchange failed: refused, reset, an error, or no reply by the deadline."""

    def __init__(self, cause: BaseException, *, sent: bool) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause
        self.sent = sent

    @property
    def kind(self) -> str:
        return type(self.cause).__name__


class Deadline:
    """``asyncio.timeout`` that only counts time this event loop was watching.

    When the timer fires late (the loop was busy, or the process was descheduled), a reply may
    be sitting unread in the socket: the deadline starts over rather than blame Redis, up to
    ``max(0.5 s, 10 * deadline)`` in all. A timer that fires on time with no reply is a miss.
    """

    __slots__ = ("_cm", "_due", "_handle", "_seconds", "_until")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._cm = asyncio.timeout(None)
        self._due = self._until = 0.0
        self._handle: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> Deadline:
        await self._cm.__aenter__()
        now = time.monotonic()
        self._due = now + self._seconds
        self._until = now + max(0.5, 10 * self._seconds)
        self._handle = asyncio.get_running_loop().call_later(self._seconds, self._fire)
        return self

    def _fire(self) -> None:
        now = time.monotonic()
        if now - self._due > max(0.005, self._seconds / 4) and now < self._until:
            self._due = now + self._seconds
            self._handle = asyncio.get_running_loop().call_later(self._seconds, self._fire)
            return
        self._cm.reschedule(asyncio.get_running_loop().time())

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool | None:
        if self._handle is not None:
            self._handle.cancel()
        await self._cm.__aexit__(et, exc, tb)  # raises TimeoutError when it fired
        return None


class Link:
    """A node's connections: ``take`` one for an exchange (only when ``free()``) and ``give`` it
    back; the store keeps the rest queued meanwhile. One more connection, behind a lock, carries
    the background's probes, heartbeats and script loads, so they never wait behind traffic."""

    __slots__ = ("_all", "_control", "_idle", "_lock", "name")

    def __init__(self, make: Callable[[], AbstractConnection], name: str, width: int = WIDTH) -> None:
        self.name = name
        self._all = [make() for _ in range(width + 1)]
        self._control = self._all[-1]
        self._idle = self._all[:-1]
        self._lock = asyncio.Lock()

    def free(self) -> bool:
        return bool(self._idle)

    def take(self) -> AbstractConnection:
        return self._idle.pop()

    def give(self, conn: AbstractConnection) -> None:
        self._idle.append(conn)

    async def open(self) -> None:
        """(Re)connect every idle connection and the control one, so the first batch after start
        or after an outage pays no connect and meets no socket a restarted Redis left dead.
        The caller bounds the wait; raises the first failure."""
        conns = [*self._idle, self._control]
        await asyncio.gather(*(c.disconnect(nowait=True) for c in conns), return_exceptions=True)
        results = await asyncio.gather(*(c.connect() for c in conns),  # type: ignore[no-untyped-call]
                                       return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def control(self, payload: bytes, replies: int, deadline: float) -> list[object]:
        async with self._lock:
            return await exchange(self._control, payload, replies, deadline, max(1.0, 4 * deadline))

    async def aclose(self) -> None:
        await asyncio.gather(*(c.disconnect() for c in self._all), return_exceptions=True)


async def exchange(conn: AbstractConnection, payload: bytes, replies: int, deadline: float,
                   connect_deadline: float) -> list[object]:
    """Write ``payload`` (``replies`` commands) and read every reply, within ``deadline`` seconds
    of writing; an error reply is returned as its ``ResponseError`` in place. A connection that
    must be (re)opened first gets ``connect_deadline`` for it (refused is immediate; a stalled
    Redis accepts the TCP connection and never answers redis-py's handshake). Raises
    ``LinkError``."""
    sent = False
    try:
        if not conn.is_connected:
            async with asyncio.timeout(connect_deadline):
                await conn.connect()  # type: ignore[no-untyped-call]
        async with Deadline(deadline):
            sent = True
            await conn.send_packed_command(payload, check_health=False)
            out: list[object] = []
            for _ in range(replies):
                try:
                    out.append(await conn.read_response())
                except ResponseError as err:
                    out.append(err)
            return out
    except (Exception, asyncio.CancelledError) as exc:
        # Whatever it was, this connection's replies can no longer be matched: start over.
        await conn.disconnect(nowait=True)
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise LinkError(exc, sent=sent) from None
