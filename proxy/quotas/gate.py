"""The quota gate: admit a request before it leaves, settle it when its usage is known.

``admit`` is the pipeline's admission seam (after the body is read, before anything reaches
Lava): every limit is checked and the request counted at once, its concurrency slot taken and its
estimated tokens and spend reserved. ``complete`` (the completion seam, once per ticket) frees the
slot and replaces the reservation with the real amounts. The memory store answers in-line; the
Redis store batches (``redisstore``) and when it cannot decide, the ``on_backend_error`` policy
does (allow: admitted unchecked and counted; reject: 503).
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry

from ..errors import QuotaBackendUnavailable
from .batch import BackendDown
from .config import QuotaSettings
from .memory import MemoryStore
from .metrics import QuotaMetrics
from .policy import NO_CHECKS, Checks, Policy, Settlement, refusal_error, to_micro_usd

if TYPE_CHECKING:
    from .redisstore import RedisStore

log = logging.getLogger("lava_sidecar.quotas")

#: Default lease TTL: a dead replica's concurrency slots return within this; renewed every third.
LEASE_TTL: Final = 30.0


@dataclass(slots=True, eq=False)
class Ticket:
    """One admitted request. Pass it to ``complete`` exactly once (again is a no-op)."""

    checks: Checks
    #: The store holds a concurrency slot for this ticket (Redis: under ``lease_id``).
    holds_slot: bool = False
    lease_id: str = ""
    done: bool = False
    #: The store's clock at admission (ms) and what was reserved then; 0 when admitted unchecked.
    admitted_ms: float = 0.0
    tokens: int = 0
    micro_usd: int = 0


#: The ticket for a request no limit applies to: nothing to count, nothing to release.
FREE: Final = Ticket(NO_CHECKS)


class QuotaGate:
    def __init__(self, settings: QuotaSettings, metrics: QuotaMetrics, *,
                 clock: Callable[[], float] | None, lease_ttl: float,
                 redis: RedisStore | None) -> None:
        self._settings = settings
        self._policy = Policy(settings)
        self._metrics = metrics
        self._clock = clock or time.time
        self._memory = MemoryStore() if redis is None else None
        self._redis = redis
        self._lease_ttl_ms = int(lease_ttl * 1000)
        self._instance = uuid.uuid4().hex[:16]
        self._seq = itertools.count(1)
        if redis is not None:
            redis.policy = settings.on_backend_error

    @classmethod
    async def open(cls, settings: QuotaSettings, registry: CollectorRegistry, *,
                   max_customers: int = 1000, customer_label: bool = True,
                   clock: Callable[[], float] | None = None,
                   lease_ttl: float = LEASE_TTL) -> QuotaGate:
        """Start the gate. ``clock`` (seconds since the epoch) drives the memory store's windows;
        for Redis it replaces the server's ``TIME`` (tests only). Redis is connected in the
        background (``waiting`` says so to readiness); one that is down does not stop the sidecar:
        the policy applies until it answers.
        """
        metrics = QuotaMetrics(registry, max_customers=max_customers, customer_label=customer_label)
        redis = None
        if settings.backend == "redis":
            if settings.redis.url is None:
                raise ValueError("quotas.backend: redis needs quotas.redis.url")
            from .redisstore import RedisStore  # the optional extra, only when configured

            clock_ms = (lambda: clock() * 1000) if clock is not None else None
            redis = RedisStore(settings.redis.url, cluster=settings.redis.cluster,
                               timeout_s=settings.redis.timeout_ms / 1000,
                               lease_ttl_ms=int(lease_ttl * 1000), metrics=metrics, clock_ms=clock_ms)
            redis.start()
        return cls(settings, metrics, clock=clock, lease_ttl=lease_ttl, redis=redis)

    # -- the request path ------------------------------------------------------------------------

    def checks(self, customer_id: str | None, meter: str | None) -> Checks:
        """The limits that apply (empty: none). Requests billed to the merchant have none."""
        return NO_CHECKS if customer_id is None else self._policy.checks(customer_id, meter)

    async def admit(self, customer_id: str | None, meter: str | None, *, tokens: int = 0,
                    micro_usd: int = 0) -> Ticket:
        """``admit_checks`` for a customer and meter."""
        checks = self.checks(customer_id, meter)
        if not checks:
            return FREE
        return await self.admit_checks(checks, tokens=tokens, micro_usd=micro_usd)

    async def admit_checks(self, checks: Checks, *, tokens: int = 0,
                           micro_usd: int = 0) -> Ticket:
        """Check every limit and count the request, atomically, reserving ``tokens`` and
        ``micro_usd`` on the token and spend windows; raise ``QuotaExceeded`` (429).

        With Redis the request joins this loop iteration's batch; when the store cannot decide,
        ``allow`` admits it unchecked (counted) and ``reject`` raises ``QuotaBackendUnavailable``.
        """
        start = time.perf_counter()
        holds = checks.holds
        memory = self._memory
        if memory is not None:
            now = self._clock() * 1000
            refusal = memory.admit(checks, now, tokens, micro_usd)
            self._metrics.checked("memory", time.perf_counter() - start)
            if refusal is None:
                return Ticket(checks, holds, "", False, now, tokens, micro_usd)
        else:
            lease = f"{self._instance}:{next(self._seq)}" if holds else ""
            try:
                verdict = await self._store().admit(checks, lease, tokens, micro_usd)
            except BackendDown:
                self._metrics.checked("redis", time.perf_counter() - start)
                return self._undecided(checks)
            self._metrics.checked("redis", time.perf_counter() - start)
            refusal = verdict.refusal
            if refusal is None:
                return Ticket(checks, holds, lease, False, verdict.now_ms, tokens, micro_usd)
        err = refusal_error(refusal)
        self._metrics.rejected(err.kind, checks[0].customer_id)
        raise err

    def _undecided(self, checks: Checks) -> Ticket:
        policy = self._settings.on_backend_error
        self._metrics.unchecked(policy)
        if policy == "reject":
            raise QuotaBackendUnavailable(
                "The quota store is unavailable and quotas are set to fail closed "
                "(quotas.on_backend_error: reject); retry shortly.")
        # Admitted unchecked: no slot, no reservation; its real tokens and spend still count.
        return Ticket(checks)

    def complete(self, ticket: Ticket, *, tokens: int | None, charge_usd: Decimal | None) -> None:
        """Free the ticket's slot and replace its reservation with the real amounts. ``None``
        means unknown (Lava may have billed a response that reported nothing): the reservation
        then stands as the amount. Never raises, never blocks."""
        if ticket.done or not ticket.checks:
            return
        ticket.done = True
        try:
            t_actual, t_reserved = (0, 0) if tokens is None else (max(tokens, 0), ticket.tokens)
            if charge_usd is None:
                m_actual, m_reserved = 0, 0
            else:
                m_actual = to_micro_usd(charge_usd) if charge_usd > 0 else 0
                m_reserved = ticket.micro_usd
            if not (ticket.holds_slot or t_actual or t_reserved or m_actual or m_reserved):
                return
            s = Settlement(ticket.checks, ticket.holds_slot, ticket.lease_id, ticket.admitted_ms,
                           t_actual, t_reserved, m_actual, m_reserved)
            if self._memory is not None:
                self._memory.settle(s, self._clock() * 1000)
            else:
                self._store().settle(s)
        except Exception:  # the completion seam must never fail a finished request
            log.exception("quota completion failed")
            self._metrics.backend_error("complete")

    # -- control ---------------------------------------------------------------------------------

    def reload(self, settings: QuotaSettings) -> None:
        """New limits and policy at once. The backend and everything under ``redis`` stay until
        restart (the store was built with them)."""
        old = self._settings
        if (settings.backend, settings.redis) != (old.backend, old.redis):
            log.warning("quotas.backend and quotas.redis take effect at restart; the new limits "
                        "apply now")
            settings = replace(settings, backend=old.backend, redis=old.redis)
        self._settings = settings
        self._policy = Policy(settings)
        if self._redis is not None:
            self._redis.policy = settings.on_backend_error

    @property
    def backend_up(self) -> bool:
        return self._redis is None or self._redis.up

    def waiting(self) -> str | None:
        """What readiness waits for (the backend's first answer), or None."""
        return self._redis.waiting() if self._redis is not None else None

    def circuit_trips(self) -> int:
        return self._redis.trips() if self._redis is not None else 0

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    def _store(self) -> RedisStore:
        if self._redis is None:  # pragma: no cover - the memory path never gets here
            raise RuntimeError("no Redis store")
        return self._redis
