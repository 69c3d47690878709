"""The local Lava's web pages, server-rendered HTML with no build step and no external asset:
the hosted checkout page ``@lavapayments/checkout`` opens (``/embed/checkout/{secret}``) and the
merchant's dashboard (``/`` and ``/dashboard/...``).

Pure render functions build escaped HTML/SVG from plain data (``markup``, ``layout``,
``checkout_form``, ``checkout_view``, ``queries`` → ``dashboard_view`` and ``chart``); thin
aiohttp handlers (``checkout``, ``dashboard``) read the accounts and answer; ``security`` holds
the headers (a per-response CSP nonce) and the dashboard's loopback rule. ``mount`` adds the
routes to the gateway's app, beside the management REST API.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ..accounts import LocalAccounts
from .checkout import CheckoutPages
from .dashboard import Dashboard


def mount(accounts: LocalAccounts, merchant_id: str) -> Callable[[web.Application], None]:
    """What ``create_gateway_app(state, extra_routes=…)`` takes: the checkout page (any
    merchant's sessions, found by secret) and the dashboard of ``merchant_id``."""
    def extra_routes(app: web.Application) -> None:
        app.router.add_routes(CheckoutPages(accounts).routes())
        app.router.add_routes(Dashboard(accounts, merchant_id).routes())
    return extra_routes


__all__ = ["CheckoutPages", "Dashboard", "mount"]
