"""The client connection's write side: the transport's buffer marks turned into back-pressure for
whoever writes (the relay awaits ``wait``; a push writer registers ``when_writable``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class WriteFlow:
    """``paused`` between the transport's ``pause_writing`` and ``resume_writing``; ``wake``
    releases every writer waiting (the buffer drained, or the client is gone)."""

    __slots__ = ("_callback", "_loop", "_waiter", "paused")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.paused = False
        self._waiter: asyncio.Future[None] | None = None
        #: Called once when writing may go on (the push relay resumes reading from Lava).
        self._callback: Callable[[], None] | None = None

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self.wake()

    async def wait(self, hold: tuple[Callable[[], None], Callable[[], None]] | None) -> None:
        """Until ``wake``. ``hold``: (pause, resume) called around the wait (the relay stops
        reading from Lava meanwhile)."""
        waiter = self._waiter = self._loop.create_future()
        if hold is None:
            await waiter
            return
        hold[0]()
        try:
            await waiter
        finally:
            hold[1]()

    def when_writable(self, callback: Callable[[], None], *, gone: bool) -> None:
        """Call ``callback`` once writing may go on (at once if it already may, or ``gone``)."""
        if not self.paused or gone:
            callback()
        else:
            self._callback = callback

    def wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        callback, self._callback = self._callback, None
        if callback is not None:
            callback()
