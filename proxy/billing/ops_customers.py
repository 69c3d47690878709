"""Operations on who buys: customers, checkout sessions (with the emulator-only local completion)
and subscriptions. Each function only builds a ``Call``."""

from __future__ import annotations

from collections.abc import Mapping

from .core import Call
from .errors import LavaValidationError
from .models import CheckoutSession, Customer, Subscription, optional_subscription
from .models_usage import Deleted, Page
from .ops_catalog import body_of, paging, seg

# -- customers --------------------------------------------------------------------------


def create_customer(*, reference_id: str | None = None, email: str | None = None,
                    phone: str | None = None, name: str | None = None,
                    metadata: Mapping[str, str] | None = None) -> Call[Customer]:
    body = body_of(reference_id=reference_id, email=email, phone=phone, name=name,
                 metadata=None if metadata is None else dict(metadata))
    return Call("POST", "/customers", Customer.from_json, body=body)


def list_customers(*, limit: int | None = None, cursor: str | None = None,
                   reference_id: str | None = None) -> Call[Page[Customer]]:
    return Call("GET", "/customers", Page.parser(Customer.from_json),
                paging(limit, cursor, reference_id=reference_id))


def get_customer(customer_id: str) -> Call[Customer]:
    return Call("GET", f"/customers/{seg(customer_id)}", Customer.from_json)


def update_customer(customer_id: str, **changes: str | Mapping[str, str] | None
                    ) -> Call[Customer]:
    """Send only the fields to change (``reference_id``, ``email``, ``phone``, ``name``,
    ``metadata``); ``None`` clears one."""
    allowed = {"reference_id", "email", "phone", "name", "first_name", "last_name", "metadata"}
    unknown = set(changes) - allowed
    if unknown:
        raise LavaValidationError(f"unknown customer fields: {', '.join(sorted(unknown))}",
                                  status=0, code="invalid_arguments")
    body = {k: dict(v) if isinstance(v, Mapping) else v for k, v in changes.items()}
    return Call("PATCH", f"/customers/{seg(customer_id)}", Customer.from_json, body=body)


def delete_customer(customer_id: str) -> Call[Deleted]:
    return Call("DELETE", f"/customers/{seg(customer_id)}", Deleted.from_json)


def customer_subscription(customer_id: str) -> Call[Subscription | None]:
    """The customer's active subscription with its remaining credits, or ``None``."""
    return Call("GET", f"/customers/{seg(customer_id)}/subscription", optional_subscription)


# -- checkout sessions ------------------------------------------------------------------

def create_checkout_session(*, checkout_mode: str = "subscription",
                            origin_url: str = "http://localhost:3000",
                            plan_id: str | None = None, customer_id: str | None = None,
                            credit_bundle_id: str | None = None) -> Call[CheckoutSession]:
    """``subscription`` needs ``plan_id`` (``customer_id`` for a returning customer);
    ``credit_bundle`` needs ``customer_id`` and ``credit_bundle_id``."""
    body = body_of(checkout_mode=checkout_mode, origin_url=origin_url, plan_id=plan_id,
                 customer_id=customer_id, credit_bundle_id=credit_bundle_id)
    return Call("POST", "/checkout_sessions", CheckoutSession.from_json, body=body)


def get_checkout_session(checkout_session_id: str) -> Call[CheckoutSession]:
    """Emulator (and legacy Lava) only: current Lava has no retrieve endpoint."""
    return Call("GET", f"/checkout_sessions/{seg(checkout_session_id)}",
                CheckoutSession.from_json)


def complete_checkout_session_local(checkout_session_id: str, *, phone: str | None = None,
                                    email: str | None = None, first_name: str | None = None,
                                    last_name: str | None = None,
                                    reference_id: str | None = None) -> Call[CheckoutSession]:
    """EMULATOR ONLY (``lava-sidecar dev-gateway``): completes the checkout the way the hosted
    checkout would once the buyer has paid. Real Lava has no such endpoint (404)."""
    body = body_of(phone=phone, email=email, first_name=first_name, last_name=last_name,
                 reference_id=reference_id)
    return Call("POST", f"/checkout_sessions/{seg(checkout_session_id)}/complete",
                CheckoutSession.from_json, body=body)


# -- subscriptions ----------------------------------------------------------------------

def list_subscriptions(*, status: str | None = None, customer_id: str | None = None,
                       limit: int | None = None,
                       cursor: str | None = None) -> Call[Page[Subscription]]:
    """``status``: ``active`` (Lava's default), ``cancelled`` or ``all``."""
    return Call("GET", "/subscriptions", Page.parser(Subscription.from_json),
                paging(limit, cursor, status=status, customer_id=customer_id))


def create_subscription(*, customer_id: str, plan_id: str) -> Call[Subscription]:
    """Put a customer on a free plan (paid plans start through a checkout session)."""
    return Call("POST", "/subscriptions", Subscription.from_json,
                body={"customer_id": customer_id, "plan_id": plan_id})


def update_subscription(subscription_id: str, *,
                        auto_top_up_bundle_id: str | None) -> Call[Subscription]:
    return Call("PATCH", f"/subscriptions/{seg(subscription_id)}", Subscription.from_json,
                body={"auto_top_up_bundle_id": auto_top_up_bundle_id})


def cancel_subscription(subscription_id: str) -> Call[Deleted]:
    return Call("DELETE", f"/subscriptions/{seg(subscription_id)}", Deleted.from_json)
