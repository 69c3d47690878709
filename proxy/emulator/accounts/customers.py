"""Customers and their subscriptions: create/update/delete customers, put them on a plan, keep
their credit current across billing cycles, add bundle credit (lava-api.md 4.3, 4.5)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from decimal import Decimal

from . import views
from .cycles import first_cycle, renew
from .ids import new_id
from .records import (
    CreditBundle,
    Customer,
    Invalid,
    Plan,
    Subscription,
)
from .scope import Scope, need
from .views import JsonObj

#: The contact fields ``update_customer`` sets or clears; the REST layer reads exactly these.
CONTACT_FIELDS = ("reference_id", "phone", "email", "first_name", "last_name")


def render_customer(scope: Scope, c: Customer) -> JsonObj:
    sub = current_subscription(scope, c)
    return views.customer(c, sub, scope.plans.get(sub.plan_id) if sub is not None else None)


def emit_customer(scope: Scope, event: str, c: Customer, **extra: object) -> None:
    if scope.listening():
        scope.emit(event, {"customer": render_customer(scope, c), **extra})


def create_customer(scope: Scope, *, reference_id: str | None = None, phone: str | None = None,
                    email: str | None = None, first_name: str | None = None,
                    last_name: str | None = None,
                    metadata: Mapping[str, str] | None = None,
                    customer_id: str | None = None) -> Customer:
    """A new customer; ``customer_id`` fixes its id (``dev-gateway --seed``), else a new ``con_``."""
    now = scope.now()
    c = scope.customers.put(Customer(
        customer_id or new_id("con", now), reference_id, phone, email, first_name, last_name,
        None if metadata is None else tuple(metadata.items()), now))
    emit_customer(scope, "customer.created", c)
    return c


def update_customer(scope: Scope, customer_id: str,
                    changes: Mapping[str, object]) -> Customer:
    """``changes`` holds only the fields the caller sent; a ``None`` value clears the field."""
    c = need(scope.customers.get(customer_id), "customer", customer_id)
    for key, value in changes.items():
        if key in CONTACT_FIELDS:
            if value is not None and not isinstance(value, str):
                raise Invalid(f"{key} must be a string or null")
            c = dataclasses.replace(c, **{key: value})  # type: ignore[arg-type]
        elif key == "metadata":
            if value is not None and not isinstance(value, Mapping):
                raise Invalid("metadata must be an object or null")
            c = dataclasses.replace(c, metadata=None if value is None else tuple(
                (str(k), str(v)) for k, v in value.items()))
    return scope.customers.put(c)


def delete_customer(scope: Scope, customer_id: str) -> None:
    c = need(scope.customers.get(customer_id), "customer", customer_id)
    data: dict[str, object] | None = None
    if scope.listening():
        data = {"customer": render_customer(scope, c)}
    with scope.store.transaction():
        sub = current_subscription(scope, c)
        if sub is not None:
            _cancel(scope, sub)
        scope.customers.delete(customer_id)
    if data is not None:
        scope.emit("customer.deleted", data)


def active_subscription(scope: Scope, c: Customer, *, save: bool = False) -> Subscription | None:
    """The customer's active subscription as of now (cycle boundaries passed applied); ``save``
    stores it when a cycle turned. A read-only view (the dashboard) leaves ``save`` off."""
    if c.subscription_id is None:
        return None
    sub = scope.subscriptions.get(c.subscription_id)
    if sub is None or sub.status != "active":
        return None
    plan = scope.plans.get(sub.plan_id)
    if plan is None:
        return None
    fresh = renew(sub, plan, scope.now())
    if save and fresh is not sub:
        scope.subscriptions.put(fresh)
    return fresh


def current_subscription(scope: Scope, c: Customer) -> Subscription | None:
    """The customer's active subscription, renewed up to now (and saved if a cycle turned)."""
    return active_subscription(scope, c, save=True)


def subscribe(scope: Scope, c: Customer, plan: Plan) -> Subscription:
    """Put the customer on ``plan`` from now: a fresh cycle with the included credit. Bundle
    credit already bought moves to the new subscription; the old one is cancelled."""
    now = scope.now()
    with scope.store.transaction():
        old = current_subscription(scope, c)
        carried = Decimal(0)
        if old is not None:
            carried = old.bundle_remaining
            _cancel(scope, old)
        start, end = first_cycle(now, plan.billing_interval)
        sub = scope.subscriptions.put(Subscription(
            new_id("as", now), c.customer_id, plan.plan_id, "active",
            plan.default_auto_top_up_bundle_id, now, None, start, end,
            plan.included_credit, carried))
        scope.customers.put(dataclasses.replace(c, subscription_id=sub.subscription_id))
    return sub


def assign_plan(scope: Scope, customer_id: str, plan_id: str) -> Subscription:
    """``POST /subscriptions``: only free plans; paid ones go through checkout, as on Lava."""
    c = need(scope.customers.get(customer_id), "customer", customer_id)
    plan = need(scope.plans.get(plan_id), "plan", plan_id)
    if plan.period_amount != 0:
        raise Invalid("paid plans can only be started through a checkout session",
                      code="plan_requires_checkout")
    return subscribe(scope, c, plan)


def _cancel(scope: Scope, sub: Subscription) -> Subscription:
    return scope.subscriptions.put(dataclasses.replace(
        sub, status="cancelled", cancelled_at=scope.now()))


def cancel_subscription(scope: Scope, subscription_id: str) -> None:
    """Cancels at once (Lava defers to the cycle end; immediate is simpler to test against)."""
    sub = need(scope.subscriptions.get(subscription_id), "subscription", subscription_id)
    if sub.status == "active":
        _cancel(scope, sub)


def set_auto_top_up(scope: Scope, subscription_id: str, bundle_id: str | None) -> Subscription:
    sub = need(scope.subscriptions.get(subscription_id), "subscription", subscription_id)
    if bundle_id is not None:
        b = scope.bundles.get(bundle_id)
        if b is None or b.plan_id != sub.plan_id:
            raise Invalid("auto_top_up_bundle_id is not a credit bundle of this plan",
                          code="invalid_auto_top_up_bundle")
    return scope.subscriptions.put(dataclasses.replace(sub, auto_top_up_bundle_id=bundle_id))


def add_bundle_credit(scope: Scope, c: Customer, sub: Subscription,
                      bundle: CreditBundle) -> Subscription:
    sub = scope.subscriptions.put(dataclasses.replace(
        sub, bundle_remaining=sub.bundle_remaining + bundle.credit_amount))
    emit_customer(scope, "customer.wallet.balance.updated", c, credits=views.credits(sub))
    return sub


def render_subscription(scope: Scope, sub: Subscription, *, with_customer: bool) -> JsonObj:
    plan = need(scope.plans.get(sub.plan_id), "plan", sub.plan_id)
    owner = scope.customers.get(sub.customer_id) if with_customer else None
    if sub.status == "active":
        sub = renew(sub, plan, scope.now())
    return views.subscription(sub, plan, owner)


def list_filter(status: str, customer_id: str | None) -> Callable[[Subscription], bool]:
    """The predicate ``GET /subscriptions`` applies (``status``: active, cancelled or all)."""
    def keep(s: Subscription) -> bool:
        if status != "all" and s.status != status:
            return False
        return customer_id is None or s.customer_id == customer_id
    return keep
