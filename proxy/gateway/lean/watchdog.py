"""One timer for every deadline of a client: first byte, body idle gaps and pooled keep-alive expiry.

A request only records its deadline (a float); the single loop timer is moved earlier when a new
deadline needs it, which is rare. A timer per request would cost far more than the request itself.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable
from typing import Protocol


class Watched(Protocol):
    def check(self, now: float) -> float:
        """Enforce the deadline at ``now``; return the next one (``inf``: nothing to watch)."""
        ...


class Watchdog:
    """Fires at the earliest deadline of ``watched()``, enforces what is due, and re-arms."""

    __slots__ = ("_at", "_handle", "_loop", "_resolution", "_watched")

    def __init__(self, loop: asyncio.AbstractEventLoop, watched: Callable[[], Iterable[Watched]],
                 resolution: float) -> None:
        self._loop = loop
        self._watched = watched
        #: Deadlines closer together than this share a wake-up (bounds wake-ups under churn).
        self._resolution = resolution
        self._at = math.inf
        self._handle: asyncio.TimerHandle | None = None

    def watch(self, deadline: float) -> None:
        """Make sure the timer fires no later than ``deadline``."""
        if deadline < self._at:
            self._arm(deadline)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._at = math.inf

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._at = at
        self._handle = self._loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._at = math.inf
        now = self._loop.time()
        nxt = math.inf
        for item in list(self._watched()):
            due = item.check(now)
            if due < nxt:
                nxt = due
        # New deadlines registered by checks (none today) were armed already; keep the earliest.
        if nxt < math.inf:
            self.watch(max(nxt, now + self._resolution))
