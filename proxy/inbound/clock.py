"""The slow-client clock of one connection (``limits.header_timeout_seconds``,
``limits.body_idle_timeout_seconds``): which deadline applies, and one timer handle to meet it.

A head's deadline is fixed at its first byte; a body's moves with every read (it bounds the
silence between bytes). The clock is armed only when a read leaves a head or body unfinished, and
moved lazily: a read just sets ``deadline``; when the timer fires early the connection re-arms it.
What an expiry means (a 408, which request) is the connection's business (``protocol``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class SlowClientClock:
    __slots__ = ("_body_idle", "_head_timeout", "_loop", "_on_fire", "_timer", "deadline", "head_at")

    def __init__(self, loop: asyncio.AbstractEventLoop, *, head_timeout: float, body_idle: float,
                 on_fire: Callable[[], None]) -> None:
        self._loop = loop
        self._head_timeout = head_timeout
        self._body_idle = body_idle
        self._on_fire = on_fire
        self._timer: asyncio.TimerHandle | None = None
        self.deadline = 0.0
        self.head_at = 0.0

    def head_started(self) -> None:
        self.head_at = self._loop.time()

    def watch(self, *, body: bool) -> None:
        """A read left a head (``body`` false) or a body unfinished: put it on the clock."""
        self.deadline = self._loop.time() + self._body_idle if body else \
            self.head_at + self._head_timeout
        timer = self._timer
        if timer is not None and timer.when() > self.deadline:
            timer.cancel()  # armed for a later deadline (a body's) than this head's
            timer = None
        if timer is None:
            self._timer = self._loop.call_at(self.deadline, self._fire)

    def expired(self) -> bool:
        return self._loop.time() >= self.deadline

    def extend(self, *, body: bool) -> None:
        """The silence is the sidecar's (it stopped reading): start the wait over."""
        self.deadline = self._loop.time() + (self._body_idle if body else self._head_timeout)

    def rearm(self) -> None:
        """After a fire that was early (the deadline moved) or did not count."""
        self._timer = self._loop.call_at(self.deadline, self._fire)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """The connection is gone: stop, and let go of its callback (a bound method of the
        connection), so a closed connection is freed by its last reference, not by a GC pass."""
        self.stop()
        self._on_fire = _ignore

    def _fire(self) -> None:
        self._timer = None
        self._on_fire()


def _ignore() -> None:
    return None
