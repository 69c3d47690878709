"""The quota backend's circuit, one per Redis node: pure state, the store does the I/O.

Closed: batches go to Redis. A failure (connection refused or reset, an error reply, or no reply
by the deadline to a command that was actually sent) opens it: from then on admissions get
``on_backend_error`` at once, without touching Redis, and settlements wait in a bounded queue.
While open, a probe is sent every ``PROBE_SECONDS`` (half-open); the first one that answers closes
it and the queued settlements go out. Time spent waiting inside the sidecar (for a batch, for a
free connection) is never a failure, so a burst cannot open it. Each transition returns True
once, for the one log line it earns.
"""

from __future__ import annotations

from typing import Final

#: How often an open circuit probes its node (and how soon a recovered Redis is used again).
PROBE_SECONDS: Final = 0.25


class Circuit:
    __slots__ = ("opened_at", "trips")

    def __init__(self) -> None:
        self.opened_at: float | None = None
        #: Times it opened (a counter the tests and the docs read).
        self.trips = 0

    @property
    def closed(self) -> bool:
        return self.opened_at is None

    def fail(self, now: float) -> bool:
        """A failure; True when it opened the circuit (log it)."""
        if self.opened_at is not None:
            return False
        self.opened_at = now
        self.trips += 1
        return True

    def answer(self) -> bool:
        """A probe (or a command) was answered; True when it closed the circuit (log it)."""
        if self.opened_at is None:
            return False
        self.opened_at = None
        return True
