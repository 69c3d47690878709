"""The shared quota store on Redis: what arrives in one event-loop iteration goes out together.

``admit`` and ``settle`` only queue; a flush scheduled with ``call_soon`` turns each node's queue
into one ``BATCH`` script call (one per hash slot on a cluster, pipelined per node) on a
connection opened at start. Settlements ride with the next admissions, or go within 5 ms. While
every connection of a node is busy the queue grows into the next batch: waiting here is never a
backend failure. A failed exchange opens the node's circuit (``circuit.py``); the background task
probes open nodes, renews the leases this process holds (a replica that dies stops renewing and
its slots come back after the TTL) and, at start, opens the connections and loads the script that
readiness waits for. The ``redis`` package is an optional extra (``lava-sidecar[redis]``),
imported only here and in ``link``, ``node`` and ``topology``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Final

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from ..secret import Secret
from . import scripts
from .batch import MAX_OPS, Admission, BackendDown, Batch, Verdict, pack
from .circuit import PROBE_SECONDS, Circuit
from .link import Link, LinkError, exchange
from .metrics import QuotaMetrics
from .node import Node
from .policy import CONCURRENCY, Checks, Settlement
from .topology import SLOTS, Connector, SlotMemo, read_shards

log = logging.getLogger("lava_sidecar.quotas")

#: Readiness waits this long for the backend's first answer, then serves with the policy.
READY_SECONDS: Final = 5.0
#: Queued per node: admissions (one per request in flight) and settlements waiting for a circuit
#: to close; past either bound one is refused to the policy / dropped and counted.
MAX_WAITING: Final = 10_000
MAX_SETTLEMENTS: Final = 10_000
#: A settlement waits at most this long for admissions to ride with (one script call for both).
SETTLE_SECONDS: Final = 0.005
_BATCH_SHA: Final = hashlib.sha1(scripts.BATCH.encode()).hexdigest()  # noqa: S324


class RedisStore:
    """Queues, batches, circuits and the heartbeat; the gate turns verdicts into tickets."""

    def __init__(self, url: Secret, *, cluster: bool, timeout_s: float, lease_ttl_ms: int,
                 metrics: QuotaMetrics, clock_ms: Callable[[], float] | None = None) -> None:
        self.policy = "allow"  # on_backend_error, for log lines; the gate keeps it current
        self._timeout = timeout_s
        self._ttl_ms = lease_ttl_ms
        self._metrics = metrics
        self._clock_ms = clock_ms
        self._cluster = cluster
        #: Connecting (the TCP handshake and redis-py's own, AUTH/SELECT/SETINFO) is bounded apart.
        self._connect_s = max(1.0, 4 * timeout_s)
        self._connector = Connector(url, connect_timeout_s=self._connect_s)
        self._nodes: dict[str, Node] = {}
        if not cluster:  # admissions queue on it until it is ready
            self._nodes[""] = Node("", Link(self._connector.to(), "redis"))
        self._owner: list[Node | None] = []  # slot → master (cluster)
        #: Admissions that came before a cluster's slot map was first read: routed once it is.
        self._limbo: list[Admission] = []
        self._tried = False
        self._slots = SlotMemo()
        self._topology = Circuit()  # the cluster's slot map could not be read
        self._held: dict[str, Checks] = {}  # lease id → its checks
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._started = time.monotonic()
        self._answered = False
        self._closed = False
        self._renew_due = 0.0
        self._loop = asyncio.get_running_loop()
        self._metrics.backend_up.set(0)

    # -- start, readiness, state -----------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; ``waiting`` tells readiness until the first answer."""
        self._started = time.monotonic()
        self._runner = self._loop.create_task(self._run(), name="quota-backend")

    def waiting(self) -> str | None:
        """None once the backend answered (or the wait is over); else what readiness waits for."""
        if self._answered or self.up:
            return None
        # The background task ends the wait at READY_SECONDS (and logs that it did).
        waited = min(time.monotonic() - self._started, READY_SECONDS)
        return (f"waiting for the quota backend (redis) to answer: {waited:.1f} s of at most "
                f"{READY_SECONDS:.0f} s")

    @property
    def up(self) -> bool:
        return bool(self._nodes) and self._topology.closed and all(
            n.ready and n.circuit.closed for n in self._nodes.values())

    def trips(self) -> int:
        """Times any circuit opened (tests and the docs count them)."""
        return self._topology.trips + sum(n.circuit.trips for n in self._nodes.values())

    # -- the request path: queue, never wait ------------------------------------------------------

    def admit(self, checks: Checks, lease: str, tokens: int, micro_usd: int
              ) -> asyncio.Future[Verdict]:
        fut: asyncio.Future[Verdict] = self._loop.create_future()
        node = self._route(checks)
        if node is None and self._cluster and not self._tried:
            self._limbo.append(Admission(checks, lease, tokens, micro_usd, fut))
        elif node is None:
            fut.set_exception(BackendDown("no node for the key"))
        elif not node.circuit.closed:
            fut.set_exception(BackendDown("circuit open"))
        elif len(node.admissions) >= MAX_WAITING:
            fut.set_exception(BackendDown("queue full"))
        else:
            node.admissions.append(Admission(checks, lease, tokens, micro_usd, fut))
            self._schedule(node)
        return fut

    def settle(self, s: Settlement) -> None:
        """Queue a settlement; it goes out with the next batch (or when the circuit closes)."""
        if s.lease:
            self._held.pop(s.lease, None)
        node = self._route(s.checks)
        if node is None or len(node.settlements) >= MAX_SETTLEMENTS:
            # Dropped: the slot comes back with its lease's expiry, the amounts go uncounted.
            self._metrics.backend_error("complete")
            return
        node.settlements.append(s)
        if not node.circuit.closed or node.scheduled:
            return
        if len(node.settlements) >= MAX_OPS:
            self._schedule(node)
        elif node.later is None:
            # Off the request path: it rides with the next admissions, or goes alone shortly.
            node.later = self._loop.call_later(SETTLE_SECONDS, self._schedule, node)

    def _route(self, checks: Checks) -> Node | None:
        if not self._cluster:
            return self._nodes.get("")
        if not self._owner:
            return None
        return self._owner[self._slots.slot(checks[0].key)]

    def _schedule(self, node: Node) -> None:
        if not node.scheduled and not self._closed:
            node.scheduled = True
            self._loop.call_soon(self._flush, node)

    def _flush(self, node: Node) -> None:
        node.scheduled = False
        if node.later is not None:
            node.later.cancel()
            node.later = None
        if not node.circuit.closed:
            waiting, node.admissions = node.admissions, []
            for a in waiting:
                _fail(a.future)
            return
        while node.ready and node.link.free() and (node.admissions or node.settlements):
            conn = node.link.take()  # taken now: the next flush sees it busy
            task = self._loop.create_task(self._send(node, conn, self._take(node)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self, node: Node) -> list[Batch]:
        """Up to ``MAX_OPS`` operations, settlements first (they free what admissions check)."""
        by_slot: dict[int, Batch] = {}
        n = 0
        while node.settlements and n < MAX_OPS:
            s = node.settlements.popleft()
            self._batch_for(by_slot, s.checks).settle(s)
            n += 1
        take = node.admissions[:MAX_OPS - n]
        del node.admissions[:len(take)]
        if take and not node.probe_key:
            node.probe_key = take[0].checks[0].key
        for a in take:
            self._batch_for(by_slot, a.checks).admit(a)
        return list(by_slot.values())

    def _batch_for(self, by_slot: dict[int, Batch], checks: Checks) -> Batch:
        slot = self._slots.slot(checks[0].key) if self._cluster else 0
        b = by_slot.get(slot)
        if b is None:
            b = by_slot[slot] = Batch()
        return b

    # -- one exchange ----------------------------------------------------------------------------

    def _now(self) -> str:
        return "" if self._clock_ms is None else str(int(self._clock_ms()))

    async def _send(self, node: Node, conn: AbstractConnection, batches: list[Batch]) -> None:
        try:
            await self._exchange(node, conn, batches)
        finally:
            node.link.give(conn)
            self._schedule(node)  # what queued meanwhile goes out now

    async def _exchange(self, node: Node, conn: AbstractConnection, batches: list[Batch],
                        again: bool = False) -> None:
        now = self._now()
        payload = b"".join(b.command(_BATCH_SHA, now, self._ttl_ms) for b in batches)
        try:
            replies = await exchange(conn, payload, len(batches), self._timeout, self._connect_s)
        except LinkError as err:
            self._exchange_failed(node, batches, err)
            return
        retry: list[Batch] = []
        for b, reply in zip(batches, replies, strict=True):
            if isinstance(reply, ResponseError):
                text = str(reply)
                if not again and text.startswith(("NOSCRIPT", "MOVED", "ASK")):
                    retry.append(b)  # nothing ran: safe to send again
                    continue
                self._exchange_failed(node, [b], LinkError(reply, sent=True))
                continue
            try:
                verdicts = b.verdicts(reply)
            except ValueError as exc:
                self._exchange_failed(node, [b], LinkError(exc, sent=True))
                continue
            for a, v in zip(b.admissions, verdicts, strict=True):
                self._resolve(a, v)
        if retry:
            await self._retry(node, conn, retry,
                              [str(r) for r in replies if isinstance(r, ResponseError)])

    async def _retry(self, node: Node, conn: AbstractConnection, batches: list[Batch],
                     errors: list[str]) -> None:
        if any(e.startswith(("MOVED", "ASK")) for e in errors):
            await self._read_topology()
            for b in batches:  # back through routing: the slot may live elsewhere now
                for s in b.settlements:
                    self.settle(s)
                for a in b.admissions:
                    self._requeue(a)
            return
        try:
            # A restarted Redis lost its scripts; nothing ran, so the batch goes again, once.
            await exchange(conn, pack("SCRIPT", "LOAD", scripts.BATCH), 1, self._timeout, self._connect_s)
        except LinkError as err:
            self._exchange_failed(node, batches, err)
            return
        await self._exchange(node, conn, batches, again=True)

    def _requeue(self, a: Admission) -> None:
        target = self._route(a.checks)
        if target is None or not target.circuit.closed:
            _fail(a.future)
        else:
            target.admissions.append(a)
            self._schedule(target)

    def _resolve(self, a: Admission, v: Verdict) -> None:
        if a.future.cancelled():
            # The request left while its batch was out: give back what was just taken.
            if v.refusal is None:
                self.settle(Settlement(a.checks, bool(a.lease), a.lease, v.now_ms, 0, a.tokens, 0,
                                       a.micro_usd))
            return
        if v.refusal is None and a.lease:
            self._held[a.lease] = a.checks
        a.future.set_result(v)

    def _exchange_failed(self, node: Node, batches: list[Batch], err: LinkError) -> None:
        lost = 0
        op = "admit" if any(b.admissions for b in batches) else "complete"
        for b in batches:
            for a in b.admissions:
                _fail(a.future)
            if err.sent:
                lost += len(b.settlements)  # may have run: sending again could count twice
            else:
                node.settlements.extendleft(reversed(b.settlements))
        if lost:
            self._metrics.backend_error("complete")
        self._node_failed(node, op, err)

    def _node_failed(self, node: Node, op: str, err: LinkError) -> None:
        if node.failed(op, err, self._metrics, self.policy):
            self._metrics.backend_up.set(0)
        self._schedule(node)  # queued admissions get the policy now, not at their deadline

    def _node_answered(self, node: Node) -> None:
        if node.answered():
            self._renew_due = 0.0  # it may have restarted empty: put our leases back now
        if self.up:
            self._metrics.backend_up.set(1)
        self._schedule(node)

    # -- background: start, probes, heartbeat -----------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._tick()
            if not self._answered:
                if self.up:
                    self._answered = True
                    self._metrics.backend_up.set(1)
                    log.info("quota backend redis reachable")
                elif time.monotonic() - self._started >= READY_SECONDS:
                    self._answered = True
                    log.warning("quota backend redis did not answer within %.0f s of start; serving, "
                                "on_backend_error=%s applies until it does", READY_SECONDS, self.policy)
            await asyncio.sleep(PROBE_SECONDS)

    async def _tick(self) -> None:
        if self._cluster and (not self._owner or not self._topology.closed):
            await self._read_topology()
            self._tried = True
            waiting, self._limbo = self._limbo, []
            for a in waiting:
                self._requeue(a)
        await asyncio.gather(*(self._prepare(n) for n in list(self._nodes.values())
                               if not n.ready or not n.circuit.closed))
        if time.monotonic() >= self._renew_due:
            self._renew_due = time.monotonic() + self._ttl_ms / 3000
            await self._renew()

    async def _prepare(self, node: Node) -> None:
        err = await node.prepare(self._timeout)
        if err is not None:
            self._node_failed(node, "ping", err)
        else:
            self._node_answered(node)

    async def _read_topology(self) -> None:
        try:
            shards = await read_shards(self._connector, self._timeout, self._connect_s)
        except LinkError as err:
            self._metrics.backend_error("ping")
            if self._topology.fail(time.monotonic()):
                self._metrics.backend_up.set(0)
                log.warning("quota backend redis cluster cannot be read (%s during CLUSTER SLOTS); "
                            "on_backend_error=%s applies until it can", err.kind, self.policy)
            return
        owner: list[Node | None] = [None] * SLOTS
        for sh in shards:
            name = f"{sh.host}:{sh.port}"
            node = self._nodes.get(name)
            if node is None:
                node = self._nodes[name] = Node(name, Link(self._connector.to(sh.host, sh.port), name))
            for slot in range(sh.start, sh.end + 1):
                owner[slot] = node
        self._owner = owner
        if self._topology.answer():
            log.info("quota backend redis cluster is readable again")

    async def _renew(self) -> None:
        """Renew every lease this process holds, per node and slot, in bounded script calls."""
        per: dict[tuple[str, int], list[tuple[str, str]]] = {}
        for lease, checks in list(self._held.items()):
            node = self._route(checks)
            if node is None:
                continue
            slot = self._slots.slot(checks[0].key) if self._cluster else 0
            per.setdefault((node.name, slot), []).extend(
                (c.key, lease) for c in checks if c.kind == CONCURRENCY)
        for (name, _), pairs in per.items():
            node = self._nodes[name]
            if node.ready and node.circuit.closed:
                err = await node.renew(pairs, self._now(), self._ttl_ms, self._timeout)
                if err is not None:
                    self._node_failed(node, "renew", err)

    async def aclose(self) -> None:
        """Stop the background task, let queued settlements go out (bounded), close connections."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        until = time.monotonic() + 2.0
        for node in self._nodes.values():
            self._flush(node)
        while self._tasks and (left := until - time.monotonic()) > 0:
            # Each finished exchange flushes what queued behind it: wait for those too.
            await asyncio.wait(set(self._tasks), timeout=left)
            await asyncio.sleep(0)
        self._closed = True  # a settlement timer still pending must not reconnect
        for node in self._nodes.values():
            if node.later is not None:
                node.later.cancel()
        await asyncio.gather(*(n.link.aclose() for n in self._nodes.values()), return_exceptions=True)


def _fail(fut: asyncio.Future[Verdict]) -> None:
    if not fut.done():
        fut.set_exception(BackendDown("backend down"))


__all__ = ["READY_SECONDS", "RedisStore"]
