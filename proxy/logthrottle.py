"""At most one log line per interval for events a client can cause at will (refusals on a listener
anyone on the pod network can reach), each line saying how many were left out before it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final

#: One line per this many seconds: a flood of refusals costs six lines a minute.
INTERVAL: Final = 10.0


class Throttle:
    """The pure rule: ``admit(now)`` is ``None`` while lines are suppressed, else how many were."""

    __slots__ = ("_interval", "_next", "_suppressed")

    def __init__(self, interval: float = INTERVAL) -> None:
        self._interval = interval
        self._next = float("-inf")
        self._suppressed = 0

    def admit(self, now: float) -> int | None:
        if now < self._next:
            self._suppressed += 1
            return None
        self._next = now + self._interval
        suppressed, self._suppressed = self._suppressed, 0
        return suppressed


class ThrottledLog:
    """A logger's ``log`` behind one ``Throttle``: the admitted line carries ``suppressed``."""

    def __init__(self, logger: logging.Logger, *, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._throttle = Throttle(interval)
        self._clock = clock

    def log(self, level: int, msg: str, *, extra: dict[str, Any] | None = None,
            exc_info: BaseException | None = None) -> bool:
        """Log unless throttled; True when the line was written (or would be, at this level)."""
        suppressed = self._throttle.admit(self._clock())
        if suppressed is None:
            return False
        self._logger.log(level, msg, extra={**(extra or {}), "suppressed": suppressed},
                         exc_info=exc_info)
        return True
