"""One Redis node as the store sees it: its connections, its circuit, its queues, and what is done
to it alone: opening and probing it, renewing leases on it, logging its circuit's transitions.

A single Redis is one node named ""; a cluster has one per master, named ``host:port``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from redis.exceptions import ResponseError

from . import scripts
from .batch import Admission, pack
from .circuit import Circuit
from .link import Link, LinkError
from .metrics import QuotaMetrics
from .policy import Settlement

log = logging.getLogger("lava_sidecar.quotas")

#: Leases renewed per script call, so one heartbeat never builds an unbounded command.
RENEW_BATCH: Final = 500


@dataclass(slots=True, eq=False)
class Node:
    name: str
    link: Link
    circuit: Circuit = field(default_factory=Circuit)
    admissions: list[Admission] = field(default_factory=list)
    settlements: deque[Settlement] = field(default_factory=deque)
    scheduled: bool = False  # a flush is queued with call_soon
    later: asyncio.TimerHandle | None = None  # a flush for settlements alone
    ready: bool = False  # connections open, script loaded
    probe_key: str = ""  # a key this node owns: a cluster probe asks for it, not just PING

    def label(self) -> str:
        return "redis" + (f" node {self.name}" if self.name else "")

    def failed(self, op: str, err: LinkError, metrics: QuotaMetrics, policy: str) -> bool:
        """Count a failure; True (and one warning) when it opened the circuit."""
        metrics.backend_error(op)
        if not self.circuit.fail(time.monotonic()):
            return False
        # The exception's class only: a redis-py message may name the host, never more.
        log.warning("quota backend %s is down (%s during %s); on_backend_error=%s applies until it "
                    "answers", self.label(), err.kind, op, policy)
        return True

    def answered(self) -> bool:
        """True (and one info line) when an answer closed the circuit."""
        if not self.circuit.answer():
            return False
        log.info("quota backend %s is up again; quotas are enforced", self.label())
        return True

    async def prepare(self, deadline: float) -> LinkError | None:
        """Probe, then (re)open every connection and load the script: at start, and while the
        circuit is open (a node that answers gets fresh connections before traffic returns).
        None when it answered, else why not."""
        try:
            async with asyncio.timeout(max(1.0, 4 * deadline)):
                # A cluster master answers PING even while the cluster refuses keys: ask for one.
                probe = pack("EXISTS", self.probe_key) if self.ready and self.probe_key else pack("PING")
                [reply] = await self.link.control(probe, 1, deadline)
                if isinstance(reply, ResponseError):
                    raise LinkError(reply, sent=True)
                await self.link.open()
                await self.link.control(pack("SCRIPT", "LOAD", scripts.BATCH), 1, deadline)
        except Exception as exc:  # refused, reset, timed out, an error reply: still down
            return exc if isinstance(exc, LinkError) else LinkError(exc, sent=True)
        self.ready = True
        return None

    async def renew(self, pairs: Sequence[tuple[str, str]], now: str, ttl_ms: int,
                    deadline: float) -> LinkError | None:
        """Renew (sorted-set key, lease id) pairs of one slot, in bounded script calls."""
        self.probe_key = self.probe_key or pairs[0][0]
        for i in range(0, len(pairs), RENEW_BATCH):
            chunk = pairs[i:i + RENEW_BATCH]
            cmd = pack("EVAL", scripts.RENEW, str(len(chunk)), *(k for k, _ in chunk), now,
                       str(ttl_ms), *(lease for _, lease in chunk))
            try:
                [reply] = await self.link.control(cmd, 1, max(deadline, 1.0))
                if isinstance(reply, ResponseError):
                    raise LinkError(reply, sent=True)
            except LinkError as err:
                return err
        return None
