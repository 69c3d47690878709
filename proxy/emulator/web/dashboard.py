"""The dashboard's handlers: ``GET /`` and ``/dashboard/...``, the merchant's read-only view of
the local Lava (the merchant whose key the gateway was started with). Thin: check who asks, read
the query, ask ``queries``, render with ``dashboard_view``.

Who may look: it shows customers' contact details, so it answers only a peer on this machine
that names this machine in its Host header (a page elsewhere cannot read it by rebinding its DNS
name to 127.0.0.1); anyone else gets 403. It changes nothing and needs no key: it is a local dev
tool, like the gateway bound to loopback by default."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ..accounts import LocalAccounts, Scope
from . import dashboard_view as view
from .markup import Markup, el, join
from .queries import (
    METRICS,
    Metric,
    customer_line,
    customer_names,
    customers_page,
    meters,
    plans,
    requests_page,
    usage_grid,
)
from .security import html_response, local_only, policy

log = logging.getLogger("lava_sidecar.emulator.web")

#: (active nav key, title, content): what a page function returns; ``None`` → 404.
Rendered = tuple[str, str, Markup] | None
Page = Callable[[Scope, web.Request], Rendered]
DEFAULT_DAYS = 14
MAX_QUERY_VALUE = 200


def _arg(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    return value if value and len(value) <= MAX_QUERY_VALUE else None


def _days(request: web.Request) -> int:
    raw = _arg(request, "days")
    return int(raw) if raw is not None and raw.isdigit() and 1 <= int(raw) <= 366 else DEFAULT_DAYS


def _metric(request: web.Request) -> Metric:
    raw = _arg(request, "metric")
    return next((m for m in METRICS if m == raw), "tokens")


def overview_page(scope: Scope, request: web.Request) -> Rendered:
    grid = usage_grid(scope, days=DEFAULT_DAYS, metric="tokens")
    recent = requests_page(scope, cursor=None, limit=10).items
    active = sum(1 for s in scope.subscriptions.scan() if s.status == "active")
    names = customer_names(scope, sorted({r.customer_id for r in recent if r.customer_id}))
    content = view.overview(view.Overview(scope.customers.count(), active,
                                          scope.requests.count(), grid, recent, names))
    return "overview", "Overview", content


def customers_list(scope: Scope, request: web.Request) -> Rendered:
    cursor = _arg(request, "cursor")
    listing = customers_page(scope, cursor)
    return "customers", "Customers", join([
        view.customers_table(listing.items),
        view.pager("/dashboard/customers", listing.next_cursor, cursor is None)])


def customer_detail(scope: Scope, request: web.Request) -> Rendered:
    c = scope.customers.get(request.match_info["id"])
    if c is None:
        return None
    days, metric = _days(request), _metric(request)
    line = customer_line(scope, c)
    grid = usage_grid(scope, days=days, metric=metric, customer_id=c.customer_id)
    recent = requests_page(scope, cursor=None, customer_id=c.customer_id, limit=20)
    names = customer_names(scope, [c.customer_id])
    return "customers", line.name or c.customer_id, view.customer_page(line, grid, days, recent,
                                                                      names)


def requests_list(scope: Scope, request: web.Request) -> Rendered:
    cursor, customer, meter = _arg(request, "cursor"), _arg(request, "customer"), _arg(request,
                                                                                      "meter")
    listing = requests_page(scope, cursor=cursor, customer_id=customer, meter_id=meter)
    names = customer_names(scope, sorted({r.customer_id for r in listing.items if r.customer_id}))
    title = "Requests"
    if customer is not None:
        title += f" of {customer_names(scope, [customer])[customer]}"
    if meter is not None:
        m = scope.meters.get(meter)
        title += f" on {m.meter_slug if m else meter}"
    clear = el("p", {"class": "muted"}, "Filtered · ",
               el("a", {"href": "/dashboard/requests"}, "show all requests")) if (
        customer or meter) else None
    return "requests", title, join([
        clear, view.requests_table(listing.items, names),
        view.pager("/dashboard/requests", listing.next_cursor, cursor is None,
                   customer=customer, meter=meter)])


def usage(scope: Scope, request: web.Request) -> Rendered:
    days, metric = _days(request), _metric(request)
    grid = usage_grid(scope, days=days, metric=metric)
    return "usage", f"Usage per day per customer, last {days} days", view.usage_page(grid, days)


def meters_list(scope: Scope, request: web.Request) -> Rendered:
    return "meters", "Meters", view.meters_table(meters(scope))


def plans_list(scope: Scope, request: web.Request) -> Rendered:
    return "plans", "Plans", view.plans_table(plans(scope))


@dataclass(slots=True)
class Dashboard:
    accounts: LocalAccounts
    merchant_id: str

    def routes(self) -> list[web.RouteDef]:
        table: list[tuple[str, Page]] = [
            ("/", overview_page), ("/dashboard", overview_page),
            ("/dashboard/customers", customers_list),
            ("/dashboard/customers/{id}", customer_detail),
            ("/dashboard/requests", requests_list), ("/dashboard/usage", usage),
            ("/dashboard/meters", meters_list), ("/dashboard/plans", plans_list)]
        return [web.get(path, self.serve(page)) for path, page in table]

    def serve(self, page: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            pol = policy(frame_ancestors=())
            if not local_only(request.remote, request.host):
                return html_response(view.shell("", "Not on this machine", view.message(
                    "The local Lava's dashboard answers only on loopback (127.0.0.1 or "
                    "localhost): it shows customers' contact details."), pol.nonce, ""), 403, pol)
            try:
                rendered = page(self.accounts.scope(self.merchant_id), request)
                if rendered is None:
                    return html_response(view.shell("", "Not found", view.message(
                        "Nothing here: the link may name a customer that was deleted."),
                        pol.nonce, self.merchant_id), 404, pol)
                here, title, content = rendered
                return html_response(view.shell(here, title, content, pol.nonce,
                                                 self.merchant_id), 200, pol)
            except Exception:
                log.exception("dashboard page %s failed", request.path)
                return html_response(view.shell("", "Dashboard failed", view.message(
                    "This page failed; the local Lava's log says why."), pol.nonce,
                    self.merchant_id), 500, pol)
        return handler
