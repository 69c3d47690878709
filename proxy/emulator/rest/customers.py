"""REST resources for who buys: ``/customers``, ``/subscriptions``, ``/checkout_sessions`` and the
emulator-only ``POST /checkout_sessions/{id}/complete`` that stands in for the hosted checkout."""

from __future__ import annotations

from ..accounts import (
    CHECKOUT_MODES,
    Invalid,
    complete_checkout,
    create_checkout,
    customers,
    filtered,
    need,
    page,
    render_checkout,
)
from .context import Ctx, Route
from .input import any_metadata, choice, limit, need_text, text


def _cursor_ok(ctx: Ctx, found: bool) -> None:
    if ctx.query.get("cursor") is not None and not found:
        raise Invalid("cursor does not name an item of this list", code="invalid_cursor")


def _split_name(name: str | None) -> tuple[str | None, str | None]:
    if name is None:
        return None, None
    first, _, last = name.strip().partition(" ")
    return first or None, last.strip() or None


# -- customers --------------------------------------------------------------------------

def list_customers(ctx: Ctx) -> object:
    cursor = ctx.query.get("cursor")
    _cursor_ok(ctx, cursor is None or ctx.scope.customers.get(cursor) is not None)
    ref = ctx.query.get("reference_id")
    items = filtered(ctx.scope.customers.scan(before=cursor),
                     lambda c: ref is None or c.reference_id == ref)
    return page(items, limit(ctx.query), lambda c: c.customer_id,
                lambda c: customers.render_customer(ctx.scope, c))


def create_customer(ctx: Ctx) -> object:
    b = ctx.body
    first, last = _split_name(text(b, "name"))
    c = customers.create_customer(
        ctx.scope, reference_id=text(b, "reference_id"), phone=text(b, "phone"),
        email=text(b, "email"), first_name=text(b, "first_name") or first,
        last_name=text(b, "last_name") or last, metadata=any_metadata(b))
    return customers.render_customer(ctx.scope, c)


def get_customer(ctx: Ctx) -> object:
    cid = ctx.param("id")
    return customers.render_customer(ctx.scope, need(ctx.scope.customers.get(cid), "customer",
                                                     cid))


def update_customer(ctx: Ctx) -> object:
    b = ctx.body
    changes: dict[str, object] = {f: text(b, f) for f in customers.CONTACT_FIELDS if f in b}
    if "name" in b:
        changes["first_name"], changes["last_name"] = _split_name(text(b, "name"))
    if "metadata" in b:
        changes["metadata"] = any_metadata(b)
    c = customers.update_customer(ctx.scope, ctx.param("id"), changes)
    return customers.render_customer(ctx.scope, c)


def delete_customer(ctx: Ctx) -> object:
    customers.delete_customer(ctx.scope, ctx.param("id"))
    return {"success": True}


def customer_subscription(ctx: Ctx) -> object:
    cid = ctx.param("id")
    c = need(ctx.scope.customers.get(cid), "customer", cid)
    sub = customers.current_subscription(ctx.scope, c)
    return {"subscription": None if sub is None else customers.render_subscription(
        ctx.scope, sub, with_customer=False)}


# -- subscriptions ----------------------------------------------------------------------

def list_subscriptions(ctx: Ctx) -> object:
    cursor = ctx.query.get("cursor")
    _cursor_ok(ctx, cursor is None or ctx.scope.subscriptions.get(cursor) is not None)
    status = choice(ctx.query, "status", ("active", "cancelled", "all"), "active")
    keep = customers.list_filter(status, ctx.query.get("customer_id"))
    return page(filtered(ctx.scope.subscriptions.scan(before=cursor), keep), limit(ctx.query),
                lambda s: s.subscription_id,
                lambda s: customers.render_subscription(ctx.scope, s, with_customer=True))


def create_subscription(ctx: Ctx) -> object:
    sub = customers.assign_plan(ctx.scope, need_text(ctx.body, "customer_id"),
                                need_text(ctx.body, "plan_id"))
    return customers.render_subscription(ctx.scope, sub, with_customer=True)


def get_subscription(ctx: Ctx) -> object:
    sid = ctx.param("id")
    sub = need(ctx.scope.subscriptions.get(sid), "subscription", sid)
    return customers.render_subscription(ctx.scope, sub, with_customer=True)


def update_subscription(ctx: Ctx) -> object:
    if "auto_top_up_bundle_id" not in ctx.body:
        raise Invalid("send auto_top_up_bundle_id (a credit bundle id, or null)",
                      code="missing_parameter")
    sub = customers.set_auto_top_up(ctx.scope, ctx.param("id"),
                                    text(ctx.body, "auto_top_up_bundle_id"))
    return customers.render_subscription(ctx.scope, sub, with_customer=True)


def cancel_subscription(ctx: Ctx) -> object:
    customers.cancel_subscription(ctx.scope, ctx.param("id"))
    return {"success": True}


# -- checkout sessions ------------------------------------------------------------------

def create_session(ctx: Ctx) -> object:
    b = ctx.body
    cs = create_checkout(
        ctx.scope, checkout_mode=choice(b, "checkout_mode", CHECKOUT_MODES),
        origin_url=need_text(b, "origin_url", max_len=2048), plan_id=text(b, "plan_id"),
        customer_id=text(b, "customer_id"), credit_bundle_id=text(b, "credit_bundle_id"))
    return render_checkout(cs, ctx.base_url)


def get_session(ctx: Ctx) -> object:
    sid = ctx.param("id")
    cs = need(ctx.scope.checkouts.get(sid), "checkout session", sid)
    return render_checkout(cs, ctx.base_url)


def complete_session(ctx: Ctx) -> object:
    """Emulator only: what the hosted checkout does once the buyer has paid."""
    b = ctx.body
    cs, c = complete_checkout(
        ctx.scope, ctx.param("id"), phone=text(b, "phone"), email=text(b, "email"),
        first_name=text(b, "first_name"), last_name=text(b, "last_name"),
        reference_id=text(b, "reference_id"))
    return {**render_checkout(cs, ctx.base_url),
            "customer": customers.render_customer(ctx.scope, c)}


ROUTES: tuple[Route, ...] = (
    ("GET", "/customers", list_customers), ("POST", "/customers", create_customer),
    ("GET", "/customers/{id}", get_customer), ("PATCH", "/customers/{id}", update_customer),
    ("DELETE", "/customers/{id}", delete_customer),
    ("GET", "/customers/{id}/subscription", customer_subscription),
    ("GET", "/subscriptions", list_subscriptions), ("POST", "/subscriptions", create_subscription),
    ("GET", "/subscriptions/{id}", get_subscription),
    ("PATCH", "/subscriptions/{id}", update_subscription),
    ("DELETE", "/subscriptions/{id}", cancel_subscription),
    ("POST", "/checkout_sessions", create_session),
    ("GET", "/checkout_sessions/{id}", get_session),
    ("POST", "/checkout_sessions/{id}/complete", complete_session),
)
