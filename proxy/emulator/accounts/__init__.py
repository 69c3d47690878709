"""The local Lava's accounts: what a merchant sells (meters, plans, bundles), who buys (customers,
subscriptions, checkout), what they used and were charged (request records, plan credit, daily
usage), and the merchant's keys and webhooks, kept in the document ``store``.

``LocalAccounts`` (``service``) is the entry point: the forward path reaches it through the
``contracts.Accounts`` seam, the management REST API (``rest``) through a merchant's ``Scope``.
The rest of the code imports from this package; its modules are ``service``, ``records`` (values
and errors), ``codec``/``scope`` (typed tables over the store), ``catalog``, ``customers``,
``cycles``, ``checkout``, ``ledger``, ``charging`` (pure pricing), ``usage``, ``admin``,
``views`` (REST JSON) and ``ids``.
"""

from . import admin, catalog, customers, views
from .admin import key_hash, merchant_keys
from .catalog import meter_by_slug
from .charging import Counts
from .checkout import complete_checkout, create_checkout, render_checkout
from .ledger import Usage, request_filter
from .records import (
    CHECKOUT_MODES,
    INTERVALS,
    RATE_TYPES,
    ROLLOVERS,
    TIER_TYPES,
    UNSET,
    AccountsError,
    Customer,
    Interval,
    Invalid,
    Meter,
    Plan,
    RateType,
    RequestRow,
    Rollover,
    Subscription,
    Tier,
    TierType,
    Unauthorized,
    Unset,
)
from .scope import DEFAULT_PAGE, MAX_PAGE, Page, Scope, filtered, need, page
from .service import LocalAccounts
from .usage import FILLED_DAYS, daily

__all__ = [
    "CHECKOUT_MODES",
    "DEFAULT_PAGE",
    "FILLED_DAYS",
    "INTERVALS",
    "MAX_PAGE",
    "RATE_TYPES",
    "ROLLOVERS",
    "TIER_TYPES",
    "UNSET",
    "AccountsError",
    "Counts",
    "Customer",
    "Interval",
    "Invalid",
    "LocalAccounts",
    "Meter",
    "Page",
    "Plan",
    "RateType",
    "RequestRow",
    "Rollover",
    "Scope",
    "Subscription",
    "Tier",
    "TierType",
    "Unauthorized",
    "Unset",
    "Usage",
    "admin",
    "catalog",
    "complete_checkout",
    "create_checkout",
    "customers",
    "daily",
    "filtered",
    "key_hash",
    "merchant_keys",
    "meter_by_slug",
    "need",
    "page",
    "render_checkout",
    "request_filter",
    "views",
]
