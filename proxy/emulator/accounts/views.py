"""Records rendered as Lava's REST JSON (lava-api.md section 4): one pure function per object.
Money as strings with 10 fractional digits, timestamps ISO 8601 UTC."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from .charging import money
from .ids import iso, iso_or_none
from .records import (
    BreakdownLine,
    CheckoutSession,
    CreditBundle,
    Customer,
    Meter,
    Plan,
    RequestRow,
    SecretKeyRow,
    Subscription,
    Webhook,
)

JsonObj = dict[str, object]


def number(value: Decimal) -> int | float:
    """A tier ``start`` is a JSON number in Lava's responses."""
    return int(value) if value == value.to_integral_value() else float(value)


def meter(m: Meter) -> JsonObj:
    return {
        "meter_id": m.meter_id, "meter_slug": m.meter_slug, "name": m.name,
        "rate_type": m.rate_type, "tier_type": m.tier_type,
        "tiers": [{"start": number(t.start), "rate": f"{t.rate:f}", "type": m.tier_type}
                  for t in m.tiers],
        "created_at": iso(m.created_at),
    }


def bundle(b: CreditBundle) -> JsonObj:
    return {"credit_bundle_id": b.credit_bundle_id, "plan_id": b.plan_id, "name": b.name,
            "cost": money(b.cost), "credit_amount": money(b.credit_amount),
            "created_at": iso(b.created_at)}


def plan(p: Plan, merchant_id: str, meters: Iterable[Meter],
         bundles: Iterable[CreditBundle]) -> JsonObj:
    return {
        "plan_id": p.plan_id, "merchant_id": merchant_id, "name": p.name,
        "period_amount": money(p.period_amount), "included_credit": money(p.included_credit),
        "billing_interval": p.billing_interval, "rollover_type": p.rollover_type,
        "bundle_rollover_type": p.bundle_rollover_type,
        "default_auto_top_up_bundle_id": p.default_auto_top_up_bundle_id,
        "linked_meters": [{"meter_id": m.meter_id, "name": m.name} for m in meters],
        "credit_bundles": [{k: v for k, v in bundle(b).items() if k in _BUNDLE_IN_PLAN}
                           for b in bundles],
        "created_at": iso(p.created_at),
    }


_BUNDLE_IN_PLAN = ("credit_bundle_id", "name", "cost", "credit_amount")


def contact(c: Customer) -> JsonObj:
    return {"phone": c.phone, "email": c.email, "first_name": c.first_name,
            "last_name": c.last_name}


def customer(c: Customer, sub: Subscription | None, sub_plan: Plan | None) -> JsonObj:
    summary: JsonObj | None = None
    if sub is not None and sub_plan is not None and sub.status == "active":
        summary = {"subscription_id": sub.subscription_id, "plan_id": sub.plan_id,
                   "name": sub_plan.name, "status": sub.status}
    return {
        "customer_id": c.customer_id, "reference_id": c.reference_id, "contact": contact(c),
        "subscription": summary,
        "metadata": None if c.metadata is None else dict(c.metadata),
        "created_at": iso(c.created_at),
    }


def credits(s: Subscription) -> JsonObj:
    return {"total_remaining": money(s.cycle_remaining + s.bundle_remaining),
            "cycle_remaining": money(s.cycle_remaining),
            "bundle_remaining": money(s.bundle_remaining)}


def subscription(s: Subscription, p: Plan, owner: Customer | None = None) -> JsonObj:
    doc: JsonObj = {
        "subscription_id": s.subscription_id, "plan_id": s.plan_id, "status": s.status,
        "auto_top_up_bundle_id": s.auto_top_up_bundle_id, "started_at": iso(s.started_at),
        "cancelled_at": iso_or_none(s.cancelled_at), "cycle_start_at": iso(s.cycle_start_at),
        "cycle_end_at": iso(s.cycle_end_at),
        "plan": {"name": p.name, "period_amount": money(p.period_amount),
                 "included_credit": money(p.included_credit),
                 "billing_interval": p.billing_interval, "rollover_type": p.rollover_type,
                 "bundle_rollover_type": p.bundle_rollover_type},
        "credits": credits(s),
        "pending_change": None,
    }
    if owner is not None:
        doc["customer_id"] = owner.customer_id
        doc["customer"] = contact(owner)
    return doc


def checkout(cs: CheckoutSession, token: str) -> JsonObj:
    return {
        "checkout_session_id": cs.checkout_session_id, "checkout_session_token": token,
        "checkout_mode": cs.checkout_mode, "origin_url": cs.origin_url,
        "customer_id": cs.customer_id, "plan_id": cs.plan_id,
        "credit_bundle_id": cs.credit_bundle_id, "created_at": iso(cs.created_at),
        "completed_at": iso_or_none(cs.completed_at),
    }


def _line(line: BreakdownLine) -> JsonObj:
    tokens = line.units if line.tier_type == "tokens_1m" else Decimal(0)
    chars = line.units if line.tier_type == "characters_1m" else Decimal(0)
    seconds = line.units * 60 if line.tier_type == "minutes" else Decimal(0)
    return {"tier": {"start": number(line.tier_start), "rate": f"{line.tier_rate:f}",
                     "type": line.tier_type},
            "tokens": number(tokens), "characters": number(chars), "seconds": number(seconds),
            "cost": money(line.amount)}


def request(r: RequestRow) -> JsonObj:
    return {
        "request_id": r.request_id, "status": r.status, "customer_id": r.customer_id,
        "meter_id": r.meter_id, "provider": r.provider, "provider_key_type": r.provider_key_type,
        "model": r.model, "endpoint": r.endpoint, "response_id": r.response_id,
        "model_usage": {
            "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
            "total_tokens": r.total_tokens,
            "input_characters": r.input_characters, "output_characters": r.output_characters,
            "total_characters": r.input_characters + r.output_characters,
            "input_seconds": number(r.input_seconds), "output_seconds": number(r.output_seconds),
            "total_seconds": number(r.input_seconds + r.output_seconds),
            "input_cost": money(r.input_cost), "output_cost": money(r.output_cost),
            "total_cost": money(r.cost),
        },
        "cost": money(r.cost),
        "charge": {"amount": money(r.charge), "rate_type": r.rate_type,
                   "breakdown": [_line(b) for b in r.breakdown]},
        "metadata": dict(r.metadata),
        "timestamp": iso(r.timestamp),
        "created_at": iso(r.created_at),
    }


def webhook(w: Webhook) -> JsonObj:
    return {"webhook_id": w.webhook_id, "name": w.name, "url": w.url,
            "created_at": iso(w.created_at)}


def secret_key(k: SecretKeyRow) -> JsonObj:
    return {"secret_key_id": k.secret_key_id, "name": k.name, "secret_key_hint": k.hint,
            "created_at": iso(k.created_at)}
