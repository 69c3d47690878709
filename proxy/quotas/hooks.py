"""Where quotas join the request path: one object on both seams (``pipeline/seams.py``).

``admit`` asks the gate after identity and before anything leaves (a refusal raises
``QuotaExceeded``, answered 429 in the caller's shape and recorded as ``rate_limited``); the ticket
rides on the request's context, and ``complete`` hands it back with the record's tokens and the
recorder's charge, so the counters see the same numbers as the usage log. ``Quotas`` owns the gate
for the app: open, reload, close.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry

from .config import QuotaSettings
from .gate import FREE, QuotaGate, Ticket

if TYPE_CHECKING:
    from ..pipeline.context import RequestContext
    from ..record import RequestRecord

log = logging.getLogger("lava_sidecar.quotas")

#: The context key a ticket is attached under (``RequestContext.attach``).
_TICKET: Final = object()


class QuotaHooks:
    """The admission and completion hooks over one gate."""

    __slots__ = ("gate",)

    def __init__(self, gate: QuotaGate) -> None:
        self.gate = gate

    async def admit(self, ctx: RequestContext) -> None:
        ticket = await self.gate.admit(ctx.customer_id, ctx.meter_slug)
        if ticket is not FREE:
            ctx.attach(_TICKET, ticket)

    def complete(self, ctx: RequestContext, rec: RequestRecord) -> None:
        ticket = ctx.attached(_TICKET)
        if not isinstance(ticket, Ticket):
            return  # refused, not limited, or admitted before quotas were switched on
        u = rec.usage
        self.gate.complete(ticket, tokens=(u.input_tokens or 0) + (u.output_tokens or 0),
                           charge_usd=ctx.charge_usd)


class Quotas:
    """The app's quotas: nothing until a limit is configured (no hook, no cost per request), then
    one gate whose limits a reload replaces in place."""

    __slots__ = ("_customer_label", "_max_customers", "_registry", "hooks")

    def __init__(self, registry: CollectorRegistry, *, max_customers: int,
                 customer_label: bool) -> None:
        self._registry = registry
        self._max_customers = max_customers
        self._customer_label = customer_label
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
            return None
        if not self.wanted(settings):
            return None
        gate = await QuotaGate.open(settings, self._registry, max_customers=self._max_customers,
                                    customer_label=self._customer_label)
        self.hooks = QuotaHooks(gate)
        log.info("quotas on", extra={"quota_backend": settings.backend})
        return self.hooks

    async def aclose(self) -> None:
        if self.hooks is not None:
            await self.hooks.gate.aclose()
