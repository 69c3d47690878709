"""Checkout sessions (lava-api.md 4.4) and their local completion, which stands in for Lava's
hosted checkout (phone check, card, payment): it creates the customer on a first subscription,
starts the subscription or adds the bundle's credit, and fires the webhooks Lava would."""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
from urllib.parse import urlsplit

from . import views
from .customers import (
    add_bundle_credit,
    create_customer,
    current_subscription,
    emit_customer,
    subscribe,
)
from .ids import new_id
from .records import CheckoutMode, CheckoutSecret, CheckoutSession, Customer, Invalid
from .scope import Scope, need
from .views import JsonObj


def _check_origin(origin_url: str) -> None:
    parts = urlsplit(origin_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid("origin_url must be the http(s) origin that embeds the checkout",
                      code="invalid_origin_url")


def create_checkout(scope: Scope, *, checkout_mode: CheckoutMode, origin_url: str,
                    plan_id: str | None = None, customer_id: str | None = None,
                    credit_bundle_id: str | None = None) -> CheckoutSession:
    _check_origin(origin_url)
    if customer_id is not None:
        need(scope.customers.get(customer_id), "customer", customer_id)
    if checkout_mode == "subscription":
        if plan_id is None:
            raise Invalid("plan_id is required for checkout_mode subscription",
                          code="plan_id_required")
        need(scope.plans.get(plan_id), "plan", plan_id)
        credit_bundle_id = None
    else:
        if customer_id is None or credit_bundle_id is None:
            raise Invalid("checkout_mode credit_bundle needs customer_id and credit_bundle_id",
                          code="credit_bundle_checkout_incomplete")
        bundle = need(scope.bundles.get(credit_bundle_id), "credit bundle", credit_bundle_id)
        customer = need(scope.customers.get(customer_id), "customer", customer_id)
        sub = current_subscription(scope, customer)
        if sub is None or sub.plan_id != bundle.plan_id:
            raise Invalid("the credit bundle does not belong to the customer's active plan",
                          code="credit_bundle_not_on_plan")
        plan_id = bundle.plan_id
    now = scope.now()
    with scope.store.transaction():
        cs = scope.checkouts.put(CheckoutSession(
            new_id("cs_test", now), f"css_test_{secrets.token_hex(16)}", checkout_mode,
            origin_url, plan_id, customer_id, credit_bundle_id, now))
        scope.checkout_secrets.put(CheckoutSecret(cs.secret, scope.merchant_id,
                                                  cs.checkout_session_id))
    return cs


def session_token(cs: CheckoutSession, base_url: str) -> str:
    """What the checkout frontend opens: base64 of ``{"secret", "base"}`` (lava-api.md 4.4)."""
    doc = {"secret": cs.secret, "base": base_url}
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def render_checkout(cs: CheckoutSession, base_url: str) -> JsonObj:
    return views.checkout(cs, session_token(cs, base_url))


def complete_checkout(scope: Scope, checkout_session_id: str, *, phone: str | None = None,
                      email: str | None = None, first_name: str | None = None,
                      last_name: str | None = None,
                      reference_id: str | None = None) -> tuple[CheckoutSession, Customer]:
    """Local stand-in for the hosted checkout: the payment always succeeds."""
    cs = need(scope.checkouts.get(checkout_session_id), "checkout session", checkout_session_id)
    if cs.completed_at is not None:
        raise Invalid("this checkout session is already completed",
                      code="checkout_session_completed")
    with scope.store.transaction():
        customer = None if cs.customer_id is None else need(
            scope.customers.get(cs.customer_id), "customer", cs.customer_id)
        if customer is None:
            if not phone:
                raise Invalid("phone is required to complete a checkout for a new customer",
                              code="phone_required")
            customer = create_customer(scope, reference_id=reference_id, phone=phone,
                                       email=email, first_name=first_name, last_name=last_name)
        if cs.checkout_mode == "subscription":
            plan = need(scope.plans.get(cs.plan_id or ""), "plan", cs.plan_id or "")
            sub = subscribe(scope, customer, plan)
            customer = need(scope.customers.get(customer.customer_id), "customer",
                            customer.customer_id)
            emit_customer(scope, "customer.wallet.balance.updated", customer,
                          credits=views.credits(sub))
        else:
            bundle = need(scope.bundles.get(cs.credit_bundle_id or ""), "credit bundle",
                          cs.credit_bundle_id or "")
            current = current_subscription(scope, customer)
            if current is None or current.plan_id != bundle.plan_id:
                raise Invalid("the credit bundle does not belong to the customer's active plan",
                              code="credit_bundle_not_on_plan")
            add_bundle_credit(scope, customer, current, bundle)
        cs = scope.checkouts.put(dataclasses.replace(
            cs, customer_id=customer.customer_id, completed_at=scope.now()))
    return cs, customer
