"""Request records: record one served request, price it under its meter, draw the customer's plan
credit (the pure arithmetic is in ``charging``), and keep the records bounded."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from . import views
from .charging import ZERO, Counts, base_cost, charge, draw
from .customers import current_subscription, emit_customer
from .records import BreakdownLine, Customer, Meter, RequestRow, Subscription, TierUsage
from .scope import Scope

#: How often (in inserts) the record count is checked against the cap: a COUNT per insert
#: would cost more than the insert on SQLite.
_CAP_CHECK_EVERY = 256


@dataclass(frozen=True, slots=True)
class Usage:
    """One request to record, whatever reported it (the forward path or ``POST /requests``)."""

    request_id: str
    provider: str
    endpoint: str
    model: str | None
    response_id: str | None
    counts: Counts
    status: str
    metadata: tuple[tuple[str, str], ...]
    timestamp: float
    provider_key_type: str = "managed"


def record(scope: Scope, usage: Usage, *, meter: Meter | None, customer: Customer | None,
           bill: bool) -> RequestRow:
    """Store the request; when ``bill`` (a customer, a meter, billing enabled, success), charge
    it and draw the customer's credit. Runs in one transaction; webhooks are emitted by it."""
    cost_in, cost_out = base_cost(usage.model, usage.counts)
    amount = ZERO
    lines: tuple[BreakdownLine, ...] = ()
    with scope.store.transaction():
        if bill and meter is not None and customer is not None and usage.status == "completed":
            sub = current_subscription(scope, customer)
            if sub is not None:
                amount, lines = _charge(scope, sub, meter, customer, usage.counts,
                                        cost_in + cost_out)
        row = scope.requests.put(RequestRow(
            request_id=usage.request_id, status=usage.status,
            customer_id=None if customer is None else customer.customer_id,
            meter_id=None if meter is None else meter.meter_id,
            provider=usage.provider, provider_key_type=usage.provider_key_type,
            model=usage.model, endpoint=usage.endpoint, response_id=usage.response_id,
            input_tokens=usage.counts.input_tokens, output_tokens=usage.counts.output_tokens,
            input_characters=usage.counts.input_characters,
            output_characters=usage.counts.output_characters,
            input_seconds=usage.counts.input_seconds, output_seconds=usage.counts.output_seconds,
            input_cost=cost_in, output_cost=cost_out, charge=amount,
            rate_type=None if meter is None else meter.rate_type, breakdown=lines,
            metadata=usage.metadata, timestamp=usage.timestamp, created_at=scope.now()))
    return row


def _charge(scope: Scope, sub: Subscription, meter: Meter, customer: Customer, counts: Counts,
            cost: Decimal) -> tuple[Decimal, tuple[BreakdownLine, ...]]:
    key = f"{customer.customer_id}|{meter.meter_id}"
    tu = scope.tier_usage.get(key)
    already = tu.units if tu is not None and tu.cycle_start_at == sub.cycle_start_at else ZERO
    amount, used, lines = charge(meter, already, counts, cost)
    scope.tier_usage.put(TierUsage(customer.customer_id, meter.meter_id, already + used,
                                   sub.cycle_start_at))
    cycle, bundle = draw(sub.cycle_remaining, sub.bundle_remaining, amount)
    if cycle + bundle <= 0 and sub.auto_top_up_bundle_id is not None:
        top_up = scope.bundles.get(sub.auto_top_up_bundle_id)
        if top_up is not None:
            bundle += top_up.credit_amount  # the card on file pays; the emulator says yes
    sub = scope.subscriptions.put(dataclasses.replace(sub, cycle_remaining=cycle,
                                                      bundle_remaining=bundle))
    if amount > 0 and scope.listening():
        emit_customer(scope, "customer.wallet.balance.updated", customer,
                      credits=views.credits(sub))
    return amount, lines


def enforce_cap(scope: Scope, max_requests: int, inserted: int) -> None:
    """Drop the oldest records beyond ``max_requests`` (checked every few inserts)."""
    if inserted % _CAP_CHECK_EVERY != 0:
        return
    excess = scope.requests.count() - max_requests
    with scope.store.transaction():
        while excess > 0:
            oldest = scope.requests.oldest()
            if oldest is None:
                return
            scope.requests.delete(oldest)
            excess -= 1


def metadata_matches(pairs: Sequence[tuple[str, str]]) -> Callable[[RequestRow], bool]:
    """``metadata_filters``: every ``[key, value]`` pair must be on the record."""
    def keep(row: RequestRow) -> bool:
        have = dict(row.metadata)
        return all(have.get(k) == v for k, v in pairs)
    return keep


def request_filter(*, customer_id: str | None, meter_id: str | None,
                   metadata: Sequence[tuple[str, str]],
                   start: float | None = None,
                   end: float | None = None) -> Callable[[RequestRow], bool]:
    meta = metadata_matches(metadata)

    def keep(row: RequestRow) -> bool:
        if customer_id is not None and row.customer_id != customer_id:
            return False
        if meter_id is not None and row.meter_id != meter_id:
            return False
        if start is not None and row.timestamp < start:
            return False
        if end is not None and row.timestamp >= end:
            return False
        return not metadata or meta(row)
    return keep
