"""Signals while ``serve`` starts and stops: from the first statement of ``cli.main`` until the event
loop's handlers take over (``lifecycle.serve``), and again once the loop has let them go.

Python's defaults end the process at once on SIGHUP, SIGTERM and SIGQUIT, and SIGINT raises
``KeyboardInterrupt`` wherever the program is. The loop's handlers came only after the imports
and the config (~0.4 s, issue 24), so a config reloader or an orchestrator that signalled early
killed the process (restarted in a loop), and a stop could cut an import or the opening of the
usage log. Here a signal is only noted, in the handler (nothing else is safe there): a SIGHUP is a
no-op, logged once logging is set up; a stop signal makes ``serve`` exit 0 at its next safe point
(before anything is opened, or through the ordinary shutdown once something is).
"""

from __future__ import annotations

import contextlib
import logging
import signal
from types import FrameType
from typing import Final

#: Stop signals: the same the loop handles (``lifecycle.STOP_SIGNALS``).
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class StartSignals:
    """What arrived before the loop's handlers: how many SIGHUPs, and the first stop signal."""

    __slots__ = ("hangups", "stop")

    def __init__(self) -> None:
        self.hangups = 0
        self.stop: str | None = None

    @classmethod
    def install(cls) -> StartSignals:
        noted = cls()
        noted.reinstall()
        return noted

    def reinstall(self) -> None:
        """Note signals here (again: the loop restores Python's defaults when it closes)."""
        with contextlib.suppress(ValueError):  # not the main thread (an embedding program's)
            for sig in STOP_SIGNALS:
                signal.signal(sig, self._stopped)
            signal.signal(signal.SIGHUP, self._hung_up)

    def report(self, log: logging.Logger) -> None:
        """Log what was noted and not yet reported (call once logging is configured)."""
        if self.hangups:
            log.info("SIGHUP received while starting (%d time(s)): ignored, the configuration is "
                     "being loaded now; send it again to reload once the sidecar is ready",
                     self.hangups)
            self.hangups = 0

    def _hung_up(self, signum: int, frame: FrameType | None) -> None:
        self.hangups += 1

    def _stopped(self, signum: int, frame: FrameType | None) -> None:
        if self.stop is None:
            self.stop = signal.Signals(signum).name
