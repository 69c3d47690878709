"""Keep-alive pool: idle connections per origin, one ``max_connections`` bound over all of them, and
a FIFO of requests waiting for a connection or a free slot."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

from ..base import first_byte_timeout
from .connection import READ_SIZE, Connection
from .watchdog import Watchdog

#: Deadlines closer together than this share one watchdog wake-up, at most.
_MAX_RESOLUTION: Final = 0.25


class Pool:
    """Slots are connections open or being opened. A freed slot or a released connection goes to
    the longest waiter first, so a burst over the limit is served in arrival order."""

    __slots__ = (
        "_connecting",
        "_conns",
        "_idle",
        "_keepalive",
        "_limit",
        "_loop",
        "_waiters",
        "closed",
        "read_buffer",
        "watchdog",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int, keepalive: float,
                 resolution: float) -> None:
        self._loop = loop
        self._limit = limit
        self._keepalive = keepalive
        self._idle: dict[str, list[Connection]] = {}
        self._conns: set[Connection] = set()
        self._connecting = 0
        self._waiters: deque[tuple[str, asyncio.Future[Connection | None]]] = deque()
        self.closed = False
        #: One read buffer for every connection of this pool: the loop fills it and the parser
        #: copies what it keeps before the next read, so no connection holds a read's worth idle.
        self.read_buffer = memoryview(bytearray(READ_SIZE))
        self.watchdog = Watchdog(loop, lambda: self._conns, min(resolution, _MAX_RESOLUTION))

    def take_idle(self, key: str) -> Connection | None:
        """The most recently used live idle connection to ``key`` (the likeliest to be warm)."""
        stack = self._idle.get(key)
        while stack:
            conn = stack.pop()
            if not conn.closed:
                conn.idle_since = 0.0
                return conn
        return None

    async def acquire(self, key: str, deadline: float) -> Connection | None:
        """A connection handed over by a releaser, or None: a slot is reserved, dial one."""
        if self.closed:
            raise RuntimeError("LeanClient is closed")
        if not self._waiters and self._in_use() < self._limit:
            self._connecting += 1
            return None
        if self._in_use() >= self._limit:
            self._evict_idle_other_than(key)
        fut: asyncio.Future[Connection | None] = self._loop.create_future()
        self._waiters.append((key, fut))
        self._grant()
        try:
            async with asyncio.timeout_at(deadline):
                return await fut
        except BaseException as exc:
            self._give_back(fut)
            if isinstance(exc, TimeoutError):
                raise first_byte_timeout() from exc
            raise

    def _give_back(self, fut: asyncio.Future[Connection | None]) -> None:
        """A waiter that gave up (timeout, cancel) just after being served passes its grant on."""
        if not fut.done():
            fut.cancel()
            return
        if fut.cancelled() or fut.exception() is not None:
            return
        got = fut.result()
        if got is None:
            self.dial_failed()
        else:
            self.release(got)

    def dialled(self, conn: Connection) -> None:
        """A reserved slot became ``conn``."""
        self._connecting -= 1
        if self.closed:
            conn.abort()
            return
        self._conns.add(conn)

    def dial_failed(self) -> None:
        self._connecting -= 1
        self._grant()

    def release(self, conn: Connection) -> None:
        """``conn`` finished an exchange cleanly: to the longest waiter for its origin, else idle."""
        if conn.closed:
            return
        now = self._loop.time()
        conn.idle_since = now
        waiters = self._waiters
        while waiters:
            key, fut = waiters[0]
            if fut.done():
                waiters.popleft()
                continue
            if key == conn.key:
                waiters.popleft()
                fut.set_result(conn)
                return
            # The longest waiter wants another origin: this connection's slot serves it better.
            conn.abort()
            return
        if self.closed:
            conn.abort()
            return
        self._idle.setdefault(conn.key, []).append(conn)
        self.watchdog.watch(now + self._keepalive)

    def forget(self, conn: Connection) -> None:
        """``conn`` closed: its slot is free."""
        if conn in self._conns:
            self._conns.discard(conn)
            self._grant()

    async def aclose(self) -> None:
        self.closed = True
        self.watchdog.stop()
        for conn in list(self._conns):
            conn.abort()
        self._idle.clear()
        while self._waiters:
            _, fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(RuntimeError("LeanClient is closed"))

    def _in_use(self) -> int:
        return len(self._conns) + self._connecting

    def _grant(self) -> None:
        """Free slots to the longest waiters (they dial)."""
        waiters = self._waiters
        while waiters and self._in_use() < self._limit:
            _, fut = waiters.popleft()
            if not fut.done():
                self._connecting += 1
                fut.set_result(None)

    def _evict_idle_other_than(self, key: str) -> None:
        """At the limit with idle connections to another origin: close one to make room."""
        for other, stack in self._idle.items():
            if other != key:
                while stack:
                    conn = stack.pop(0)
                    if not conn.closed:
                        conn.abort()
                        return
