"""The quota gate: admit a request before it leaves, account for it when its usage is known.

``admit`` is the pipeline's admission seam (after identity, before anything reaches Lava);
``complete`` its completion seam (once per admitted ticket, with the record's tokens and charge).
The memory store answers in-line; the Redis store is one script call bounded by ``timeout_ms``,
and when it fails the ``on_backend_error`` policy decides (allow: admitted, counted as an error;
reject: 503). Concurrency slots on Redis are leases this process renews while it holds them, so a
replica that dies stops renewing and its slots come back after the lease TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from .config import QuotaSettings
from .memory import MemoryStore
from .metrics import QuotaMetrics
from .policy import CONCURRENCY, SPEND, TOKENS, Check, Policy, refusal_error, to_micro_usd

if TYPE_CHECKING:
    from .redisstore import RedisStore

log = logging.getLogger("lava_sidecar.quotas")

#: Completions waiting for Redis at once; past it one is dropped (counted) rather than queued.
MAX_PENDING: Final = 1000
#: Default lease TTL: a dead replica's concurrency slots return within this; renewed every third.
LEASE_TTL: Final = 30.0
#: Leases renewed per script call, so one heartbeat never builds an unbounded command.
_RENEW_BATCH: Final = 500
#: Completions and heartbeats are off the request path: they may wait a little longer than admission.
_BACKGROUND_TIMEOUT: Final = 1.0


@dataclass(slots=True, eq=False)
class Ticket:
    """One admitted request. Pass it to ``complete`` exactly once (again is a no-op)."""

    checks: tuple[Check, ...]
    #: The store holds a concurrency slot for this ticket (Redis: under ``lease_id``).
    holds_slot: bool = False
    lease_id: str = ""
    done: bool = False


#: The ticket for a request no limit applies to: nothing to count, nothing to release.
FREE: Final = Ticket(())


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
        self._backend = "memory" if redis is None else "redis"
        self._timeout = settings.redis.timeout_ms / 1000
        self._lease_ttl_ms = int(lease_ttl * 1000)
        self._instance = uuid.uuid4().hex[:16]
        self._seq = itertools.count(1)
        self._held: dict[str, list[str]] = {}  # lease id -> its sorted-set keys (Redis only)
        self._pending: set[asyncio.Task[None]] = set()
        self._healthy = True
        self._wake = asyncio.Event()
        self._heartbeat: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, settings: QuotaSettings, registry: CollectorRegistry, *,
                   max_customers: int = 1000, customer_label: bool = True,
                   clock: Callable[[], float] | None = None,
                   lease_ttl: float = LEASE_TTL) -> QuotaGate:
        """Start the gate. ``clock`` (seconds since the epoch) drives the memory store's windows;
        for Redis it replaces the server's ``TIME`` (tests only). A Redis that is down at start
        does not stop the sidecar: the gate starts "down" and the policy applies until it answers.
        """
        metrics = QuotaMetrics(registry, max_customers=max_customers, customer_label=customer_label)
        redis = None
        if settings.backend == "redis":
            if settings.redis.url is None:
                raise ValueError("quotas.backend: redis needs quotas.redis.url")
            from .redisstore import RedisStore  # the optional extra, only when configured

            clock_ms = (lambda: clock() * 1000) if clock is not None else None
            redis = RedisStore(settings.redis.url, settings.redis.timeout_ms / 1000, clock_ms=clock_ms)
        gate = cls(settings, metrics, clock=clock, lease_ttl=lease_ttl, redis=redis)
        if redis is not None:
            try:
                async with asyncio.timeout(max(gate._timeout, _BACKGROUND_TIMEOUT)):
                    await redis.ping()
                log.info("quota backend redis reachable")
            except Exception as exc:  # any failure: start down, recover by itself
                gate._failed("ping", exc)
            gate._heartbeat = asyncio.create_task(gate._renew_loop(), name="quota-lease-heartbeat")
        return gate

    # -- the request path ------------------------------------------------------------------------

    async def admit(self, customer_id: str | None, meter: str | None) -> Ticket:
        """Check every limit and count the request, atomically; raise ``QuotaExceeded`` (429).

        With Redis: one script call, never longer than ``timeout_ms``; on failure ``allow`` admits
        (counted in the backend error metric) and ``reject`` raises ``QuotaBackendUnavailable``.
        Requests without a customer (billed to the merchant) have no customer quota.
        """
        if customer_id is None:
            return FREE
        checks = self._policy.checks(customer_id, meter)
        if not checks:
            return FREE
        start = time.perf_counter()
        holds = any(c.kind == CONCURRENCY for c in checks)
        memory = self._memory
        if memory is not None:
            refusal = memory.admit(checks, self._clock() * 1000)
            self._metrics.checked("memory", time.perf_counter() - start)
            if refusal is None:
                return Ticket(checks, holds)
        else:
            lease = f"{self._instance}:{next(self._seq)}"
            try:
                async with asyncio.timeout(self._timeout):
                    refusal = await self._store().admit(checks, lease, self._lease_ttl_ms)
            except Exception as exc:  # redis errors, OSError, TimeoutError: the policy decides
                self._metrics.checked("redis", time.perf_counter() - start)
                self._failed("admit", exc)
                if self._settings.on_backend_error == "reject":
                    raise QuotaBackendUnavailable(
                        f"The quota store did not answer within {self._settings.redis.timeout_ms} ms "
                        "and quotas are set to fail closed (quotas.on_backend_error: reject); "
                        "retry shortly.") from None
                # Admitted unchecked: no lease was taken, tokens and spend are still added later.
                return Ticket(checks)
            self._metrics.checked("redis", time.perf_counter() - start)
            self._up()
            if refusal is None:
                if holds:
                    self._held[lease] = [c.key for c in checks if c.kind == CONCURRENCY]
                return Ticket(checks, holds, lease)
        err = refusal_error(refusal)
        self._metrics.rejected(err.kind, customer_id)
        raise err

    def complete(self, ticket: Ticket, *, tokens: int, charge_usd: Decimal | None) -> None:
        """Release the ticket's slot and add its tokens and spend. Never raises, never blocks."""
        if ticket.done or not ticket.checks:
            return
        ticket.done = True
        try:
            micro = to_micro_usd(charge_usd) if charge_usd is not None and charge_usd > 0 else 0
            tokens = max(tokens, 0)
            if self._memory is not None:
                amounts = [tokens if c.kind == TOKENS else micro if c.kind == SPEND else 0
                           for c in ticket.checks]
                self._memory.complete(ticket.checks, amounts, self._clock() * 1000, ticket.holds_slot)
                return
            windows = [(c, tokens if c.kind == TOKENS else micro) for c in ticket.checks
                       if (c.kind == TOKENS and tokens) or (c.kind == SPEND and micro)]
            leases = [c for c in ticket.checks if c.kind == CONCURRENCY] if ticket.holds_slot else []
            self._held.pop(ticket.lease_id, None)
            if not windows and not leases:
                return
            if len(self._pending) >= MAX_PENDING:
                # Dropped: the slot comes back with its lease's expiry, the tokens go uncounted.
                self._metrics.backend_error("complete")
                return
            task = asyncio.get_running_loop().create_task(
                self._complete_remote(windows, leases, ticket.lease_id))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        except Exception:  # the completion seam must never fail a finished request
            log.exception("quota completion failed")
            self._metrics.backend_error("complete")

    # -- control ---------------------------------------------------------------------------------

    def reload(self, settings: QuotaSettings) -> None:
        """New limits and policy at once. The backend, its URL and key prefix stay until restart."""
        old = self._settings
        if (settings.backend, settings.redis.url, settings.redis.key_prefix) != (
                old.backend, old.redis.url, old.redis.key_prefix):
            log.warning("quotas.backend, quotas.redis.url and quotas.redis.key_prefix take effect at "
                        "restart; the new limits apply now")
            settings = replace(settings, backend=old.backend, redis=replace(
                settings.redis, url=old.redis.url, key_prefix=old.redis.key_prefix))
        self._settings = settings
        self._policy = Policy(settings)
        self._timeout = settings.redis.timeout_ms / 1000

    @property
    def backend_up(self) -> bool:
        return self._healthy

    async def aclose(self) -> None:
        """Stop the heartbeat, let pending completions finish (bounded), close the connections."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=_BACKGROUND_TIMEOUT * 2)
        if self._redis is not None:
            await self._redis.aclose()

    # -- Redis upkeep ----------------------------------------------------------------------------

    def _store(self) -> RedisStore:
        if self._redis is None:  # pragma: no cover - the memory path never gets here
            raise RuntimeError("no Redis store")
        return self._redis

    async def _complete_remote(self, windows: list[tuple[Check, int]], leases: list[Check],
                               lease_id: str) -> None:
        try:
            async with asyncio.timeout(max(self._timeout, _BACKGROUND_TIMEOUT)):
                await self._store().complete(windows, leases, lease_id)
        except Exception as exc:
            self._failed("complete", exc)
        else:
            self._up()

    async def _renew_loop(self) -> None:
        period = self._lease_ttl_ms / 3000
        while True:
            # Woken early when Redis comes back: it may have restarted empty.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._wake.wait()
            self._wake.clear()
            pairs = [(key, lease) for lease, keys in list(self._held.items()) for key in keys]
            for i in range(0, len(pairs), _RENEW_BATCH):
                try:
                    async with asyncio.timeout(max(self._timeout, _BACKGROUND_TIMEOUT)):
                        await self._store().renew(pairs[i:i + _RENEW_BATCH], self._lease_ttl_ms)
                except Exception as exc:
                    self._failed("renew", exc)
                    break
                self._up()
            if not pairs and not self._healthy:
                # Nothing to renew: a ping tells whether the store is back, so the gauge does not
                # wait for the next request.
                try:
                    async with asyncio.timeout(max(self._timeout, _BACKGROUND_TIMEOUT)):
                        await self._store().ping()
                except Exception as exc:
                    self._failed("ping", exc)
                else:
                    self._up()

    def _failed(self, op: str, exc: BaseException) -> None:
        self._metrics.backend_error(op)
        if self._healthy:
            self._healthy = False
            self._metrics.backend_up.set(0)
            # The exception's class only: a redis-py message may name the host, never more.
            log.warning("quota backend %s is down (%s during %s); on_backend_error=%s applies",
                        self._backend, type(exc).__name__, op, self._settings.on_backend_error)

    def _up(self) -> None:
        if not self._healthy:
            self._healthy = True
            self._metrics.backend_up.set(1)
            log.warning("quota backend %s is up again", self._backend)
            self._wake.set()
