"""Where quotas join the request path: one object on both seams (``pipeline/seams.py``).

``admit`` runs once the body is read and inspected, before anything leaves: it reserves the
request's estimated tokens and spend (``reserve``) and asks the gate (a refusal raises
``QuotaExceeded``, answered 429 in the caller's shape and recorded as ``rate_limited``); the ticket
rides on the request's context. ``complete`` hands it back with the record's tokens and the
recorder's charge, so the counters see the same numbers as the usage log; a request that never
reached Lava gives its reservation back, one that may have been billed without reporting usage
keeps it as its amount. ``Quotas`` owns the gate for the app: open, reload, close, readiness.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry

from ..pipeline.context import may_have_reached_lava
from .config import QuotaSettings
from .gate import FREE, QuotaGate, Ticket
from .reserve import Estimator

if TYPE_CHECKING:
    from ..metering.pricing import Pricing
    from ..pipeline.context import RequestContext
    from ..record import RequestRecord

log = logging.getLogger("lava_sidecar.quotas")

#: The context key a ticket is attached under (``RequestContext.attach``).
_TICKET: Final = object()
_ZERO: Final = Decimal(0)


class QuotaHooks:
    """The admission and completion hooks over one gate."""

    __slots__ = ("estimator", "gate")

    def __init__(self, gate: QuotaGate, estimator: Estimator) -> None:
        self.gate = gate
        self.estimator = estimator

    async def admit(self, ctx: RequestContext) -> None:
        checks = self.gate.checks(ctx.customer_id, ctx.meter_slug)
        if not checks:
            return
        tokens, micro = self.estimator.reserve(ctx, checks) if checks.reserves else (0, 0)
        ticket = await self.gate.admit_checks(checks, tokens=tokens, micro_usd=micro)
        if ticket is not FREE:
            ctx.attach(_TICKET, ticket)

    def complete(self, ctx: RequestContext, rec: RequestRecord) -> None:
        ticket = ctx.attached(_TICKET)
        if not isinstance(ticket, Ticket):
            return  # refused, not limited, or admitted before quotas were switched on
        u = rec.usage
        if u.source in ("provider", "estimated"):
            self.gate.complete(ticket, tokens=(u.input_tokens or 0) + (u.output_tokens or 0),
                               charge_usd=ctx.charge_usd)
        elif u.source == "missing" and may_have_reached_lava(ctx):
            # Lava may have billed what reported no usage: the estimate stands as its amount.
            self.gate.complete(ticket, tokens=None, charge_usd=None)
        else:  # never left, or nothing to bill (source none, issue 23): the reservation goes back
            self.gate.complete(ticket, tokens=0, charge_usd=_ZERO)


class Quotas:
    """The app's quotas: nothing until a limit is configured (no hook, no cost per request), then
    one gate whose limits a reload replaces in place."""

    __slots__ = ("_customer_label", "_max_customers", "_pricing", "_registry", "hooks")

    def __init__(self, registry: CollectorRegistry, *, max_customers: int,
                 customer_label: bool, pricing: Pricing | None = None) -> None:
        self._registry = registry
        self._max_customers = max_customers
        self._customer_label = customer_label
        self._pricing = pricing
        self.hooks: QuotaHooks | None = None

    @staticmethod
    def wanted(settings: QuotaSettings) -> bool:
        """A gate is needed: some limit is set (a Redis backend alone is also opened, so its
        health is visible before the first limit arrives by reload)."""
        return settings.enabled() or settings.backend == "redis"

    async def apply(self, settings: QuotaSettings) -> QuotaHooks | None:
        """Open the gate on first need, or give the open one its new limits. Returns the hooks
        when they were just created (the caller installs them on the runtime), else None."""
        if self.hooks is not None:
            self.hooks.gate.reload(settings)
            self.hooks.estimator = Estimator(self._pricing, settings.default_output_tokens)
            return None
        if not self.wanted(settings):
            return None
        gate = await QuotaGate.open(settings, self._registry, max_customers=self._max_customers,
                                    customer_label=self._customer_label)
        self.hooks = QuotaHooks(gate, Estimator(self._pricing, settings.default_output_tokens))
        log.info("quotas on", extra={"quota_backend": settings.backend})
        return self.hooks

    def waiting(self) -> str | None:
        """What readiness waits for: the quota backend's first answer (bounded), or None."""
        return self.hooks.gate.waiting() if self.hooks is not None else None

    async def aclose(self) -> None:
        if self.hooks is not None:
            await self.hooks.gate.aclose()
