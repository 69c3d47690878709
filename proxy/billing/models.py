"""Lava's catalog and customer objects as frozen dataclasses (lava-api.md 4.2-4.5): meters, plans,
credit bundles, customers, subscriptions, checkout sessions; each parsed by ``from_json``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Self

from .decode import Obj


@dataclass(frozen=True, slots=True)
class Tier:
    start: Decimal
    rate: Decimal
    type: str | None = None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "tier")
        return cls(o.dec("start"), o.dec("rate"), o.opt_text("type"))


@dataclass(frozen=True, slots=True)
class Meter:
    meter_id: str
    meter_slug: str
    name: str
    rate_type: str
    tier_type: str | None
    tiers: tuple[Tier, ...]
    created_at: datetime | None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "meter")
        tiers = o.items("tiers", Tier.from_json)
        # Lava's documented RestMeter names the tier type only on each tier.
        tier_type = o.opt_text("tier_type") or (tiers[0].type if tiers else None)
        return cls(o.text("meter_id"), o.text("meter_slug"), o.text("name"),
                   o.text("rate_type"), tier_type, tiers, o.opt_when("created_at"))


@dataclass(frozen=True, slots=True)
class CreditBundle:
    credit_bundle_id: str
    name: str
    cost: Decimal
    credit_amount: Decimal
    plan_id: str | None = None
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "credit_bundle")
        return cls(o.text("credit_bundle_id"), o.text("name"), o.dec("cost"),
                   o.dec("credit_amount"), o.opt_text("plan_id"), o.opt_when("created_at"))


@dataclass(frozen=True, slots=True)
class LinkedMeter:
    meter_id: str
    name: str

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "linked_meter")
        return cls(o.text("meter_id"), o.text("name"))


@dataclass(frozen=True, slots=True)
class Plan:
    plan_id: str
    name: str
    period_amount: Decimal
    included_credit: Decimal
    billing_interval: str
    rollover_type: str
    bundle_rollover_type: str
    default_auto_top_up_bundle_id: str | None
    linked_meters: tuple[LinkedMeter, ...]
    credit_bundles: tuple[CreditBundle, ...]
    merchant_id: str | None
    created_at: datetime | None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "plan")
        return cls(
            o.text("plan_id"), o.text("name"), o.dec("period_amount"),
            o.dec("included_credit"), o.text("billing_interval"),
            o.opt_text("rollover_type") or "none", o.opt_text("bundle_rollover_type") or "none",
            o.opt_text("default_auto_top_up_bundle_id"),
            o.items("linked_meters", LinkedMeter.from_json),
            o.items("credit_bundles", CreditBundle.from_json), o.opt_text("merchant_id"),
            o.opt_when("created_at"))


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "contact")
        return cls(o.opt_text("phone"), o.opt_text("email"), o.opt_text("first_name"),
                   o.opt_text("last_name"))


@dataclass(frozen=True, slots=True)
class SubscriptionSummary:
    """The ``subscription`` summary on a customer."""

    subscription_id: str
    plan_id: str
    name: str | None
    status: str

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "customer.subscription")
        return cls(o.text("subscription_id"), o.text("plan_id"), o.opt_text("name"),
                   o.text("status"))


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    reference_id: str | None
    contact: Contact
    subscription: SubscriptionSummary | None
    metadata: dict[str, str] | None
    created_at: datetime | None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "customer")
        sub = o.raw("subscription")
        return cls(o.text("customer_id"), o.opt_text("reference_id"),
                   Contact.from_json(o.raw("contact") or {}),
                   None if sub is None else SubscriptionSummary.from_json(sub),
                   o.str_map("metadata"), o.opt_when("created_at"))


@dataclass(frozen=True, slots=True)
class Credits:
    total_remaining: Decimal
    cycle_remaining: Decimal
    bundle_remaining: Decimal

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "credits")
        return cls(o.dec("total_remaining"), o.dec("cycle_remaining"),
                   o.dec("bundle_remaining"))


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    plan_id: str
    status: str
    auto_top_up_bundle_id: str | None
    started_at: datetime | None
    cancelled_at: datetime | None
    cycle_start_at: datetime | None
    cycle_end_at: datetime | None
    plan_name: str | None
    credits: Credits
    #: On ``/subscriptions`` list items only.
    customer_id: str | None = None
    customer: Contact | None = None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "subscription")
        plan = o.opt_obj("plan")
        owner = o.raw("customer")
        return cls(
            o.text("subscription_id"), o.text("plan_id"), o.text("status"),
            o.opt_text("auto_top_up_bundle_id"), o.opt_when("started_at"),
            o.opt_when("cancelled_at"), o.opt_when("cycle_start_at"), o.opt_when("cycle_end_at"),
            None if plan is None else plan.opt_text("name"), Credits.from_json(o.raw("credits")),
            o.opt_text("customer_id"), None if owner is None else Contact.from_json(owner))


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    checkout_session_id: str
    checkout_session_token: str
    checkout_mode: str
    origin_url: str
    customer_id: str | None
    plan_id: str | None
    created_at: datetime | None
    completed_at: datetime | None
    credit_bundle_id: str | None = None
    #: Only on the emulator's local completion: the customer the checkout created or charged.
    customer: Customer | None = None

    @classmethod
    def from_json(cls, doc: object) -> Self:
        o = Obj(doc, "checkout_session")
        customer = o.raw("customer")
        return cls(
            o.text("checkout_session_id"), o.text("checkout_session_token"),
            o.text("checkout_mode"), o.text("origin_url"), o.opt_text("customer_id"),
            o.opt_text("plan_id"), o.opt_when("created_at"), o.opt_when("completed_at"),
            o.opt_text("credit_bundle_id"),
            None if customer is None else Customer.from_json(customer))


def optional_subscription(doc: object) -> Subscription | None:
    """``GET /customers/{id}/subscription`` answers ``{"subscription": {...} | null}``."""
    sub = Obj(doc, "customer subscription").raw("subscription")
    return None if sub is None else Subscription.from_json(sub)
