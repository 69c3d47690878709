"""A typed Python client for Lava's REST API (meters, plans, credit bundles, customers, checkout
sessions, subscriptions, usage, requests, webhooks), sync and async, plus webhook verification.

    from proxy.billing import LavaClient
    with LavaClient() as lava:     # LAVA_SECRET_KEY; LAVA_GATEWAY_URL (default https://api.lava.so)
        plan = lava.plans.create(name="Pro", period_amount="20", meter_ids=[meter.meter_id])
"""

from __future__ import annotations

from .client import AsyncLavaClient, LavaClient
from .errors import (
    LavaAuthError,
    LavaConfigError,
    LavaConnectionError,
    LavaError,
    LavaNotFound,
    LavaPaymentRequired,
    LavaProtocolError,
    LavaRateLimited,
    LavaServerError,
    LavaTimeout,
    LavaValidationError,
)
from .models import (
    CheckoutSession,
    Contact,
    CreditBundle,
    Credits,
    Customer,
    LinkedMeter,
    Meter,
    Plan,
    Subscription,
    SubscriptionSummary,
    Tier,
)
from .models_usage import (
    Charge,
    ChargeLine,
    Deleted,
    ModelUsage,
    Page,
    RequestRecord,
    SecretKey,
    UsageDay,
    UsageReport,
    UsageTotals,
    Webhook,
)
from .ops_catalog import BundleSpec, TierSpec
from .webhook import SIGNATURE_HEADER, verify_webhook

__all__ = [
    "SIGNATURE_HEADER",
    "AsyncLavaClient",
    "BundleSpec",
    "Charge",
    "ChargeLine",
    "CheckoutSession",
    "Contact",
    "CreditBundle",
    "Credits",
    "Customer",
    "Deleted",
    "LavaAuthError",
    "LavaClient",
    "LavaConfigError",
    "LavaConnectionError",
    "LavaError",
    "LavaNotFound",
    "LavaPaymentRequired",
    "LavaProtocolError",
    "LavaRateLimited",
    "LavaServerError",
    "LavaTimeout",
    "LavaValidationError",
    "LinkedMeter",
    "Meter",
    "ModelUsage",
    "Page",
    "Plan",
    "RequestRecord",
    "SecretKey",
    "Subscription",
    "SubscriptionSummary",
    "Tier",
    "TierSpec",
    "UsageDay",
    "UsageReport",
    "UsageTotals",
    "Webhook",
    "verify_webhook",
]
