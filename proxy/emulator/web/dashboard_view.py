"""The dashboard's pages, pure: rows from ``queries`` in, escaped HTML out. What Lava's dashboard
shows a merchant: customers (plan, credit left, status), recent requests (customer, meter,
model, tokens, charge, time), usage per day per customer, meters and plans. Every page is a
plain link (filters and pages are query parameters), no script."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from .chart import bar_chart, fmt
from .layout import count, document, pill, usd, when
from .markup import Markup, el, join
from .queries import METRICS, CustomerLine, Listing, MeterLine, PlanLine, RequestLine, UsageGrid

NAV = (("overview", "/dashboard", "Overview"), ("customers", "/dashboard/customers", "Customers"),
       ("requests", "/dashboard/requests", "Requests"), ("usage", "/dashboard/usage", "Usage"),
       ("meters", "/dashboard/meters", "Meters"), ("plans", "/dashboard/plans", "Plans"))
DAY_CHOICES = (7, 14, 30, 90)


def href(path: str, **query: str | int | None) -> str:
    q = {k: v for k, v in query.items() if v is not None}
    return path + ("?" + urlencode(q) if q else "")


def customer_href(customer_id: str) -> str:
    return f"/dashboard/customers/{quote(customer_id, safe='')}"


def shell(here: str, title: str, content: Markup, nonce: str, merchant_id: str) -> Markup:
    links = [el("a", {"href": url, "class": "here" if key == here else None,
                      "aria-current": "page" if key == here else None}, label)
             for key, url, label in NAV]
    nav = el("nav", None, el("span", {"class": "brand"}, "Local Lava"), links,
             el("span", {"class": "muted mono"}, merchant_id))
    return document(f"{title} · Local Lava", join([nav, el("main", None, el("h1", None, title),
                                                                        content)]), nonce)


def _customer_cell(customer_id: str | None, names: dict[str, str] | None = None) -> Markup:
    if not customer_id:
        return el("span", {"class": "muted"}, "none")
    label = (names or {}).get(customer_id, customer_id)
    return el("a", {"href": customer_href(customer_id),
                    "class": "mono" if label == customer_id else None}, label)


def _status(c: CustomerLine) -> Markup:
    kind = {"active": "ok", "out of credit": "warn"}.get(c.status, "off")
    return pill(c.status, kind)


def customers_table(rows: Sequence[CustomerLine]) -> Markup:
    if not rows:
        return el("p", {"class": "muted"}, "No customers yet: a completed checkout creates one.")
    head = el("tr", None, el("th", None, "Customer"), el("th", None, "Name"),
              el("th", None, "Email"), el("th", None, "Phone"), el("th", None, "Plan"),
              el("th", {"class": "n"}, "Credit left"), el("th", None, "Status"),
              el("th", None, "Since"))
    body = [el("tr", {"data-customer": c.customer_id},
               el("td", None, _customer_cell(c.customer_id)), el("td", None, c.name or ""),
               el("td", None, c.email or ""), el("td", {"class": "mono"}, c.phone or ""),
               el("td", None, c.plan or el("span", {"class": "muted"}, "none")),
               el("td", {"class": "n"}, "" if c.credit_left is None else usd(c.credit_left)),
               el("td", None, _status(c)), el("td", None, when(c.created_at)))
            for c in rows]
    return el("table", {"id": "customers"}, el("thead", None, head), el("tbody", None, body))


def requests_table(rows: Sequence[RequestLine], names: dict[str, str]) -> Markup:
    if not rows:
        return el("p", {"class": "muted"}, "No requests yet.")
    head = el("tr", None, el("th", None, "Time"), el("th", None, "Customer"),
              el("th", None, "Meter"), el("th", None, "Model"),
              el("th", {"class": "n"}, "Tokens in"), el("th", {"class": "n"}, "Tokens out"),
              el("th", {"class": "n"}, "Charge"), el("th", None, "Status"),
              el("th", None, "Request"))
    body = [el("tr", {"data-request": r.request_id},
               el("td", None, when(r.timestamp)), el("td", None, _customer_cell(r.customer_id, names)),
               el("td", {"class": "mono"},
                  el("a", {"href": href("/dashboard/requests", meter=r.meter_id)}, r.meter)
                  if r.meter_id else ""),
               el("td", {"class": "mono"}, r.model or ""),
               el("td", {"class": "n"}, count(r.input_tokens)),
               el("td", {"class": "n"}, count(r.output_tokens)),
               el("td", {"class": "n"}, usd(r.charge)),
               el("td", None, pill(r.status, "ok" if r.status == "completed" else "bad")),
               el("td", {"class": "mono"}, r.request_id))
            for r in rows]
    return el("table", {"id": "requests"}, el("thead", None, head), el("tbody", None, body))


def pager(path: str, next_cursor: str | None, first: bool, **query: str | None) -> Markup:
    links = []
    if not first:
        links.append(el("a", {"href": href(path, **query), "id": "first-page"}, "« Newest"))
    if next_cursor is not None:
        links.append(el("a", {"href": href(path, cursor=next_cursor, **query),
                              "id": "next-page"}, "Older »"))
    return el("div", {"class": "pager"}, links) if links else Markup("")


def _tabs(path: str, days: int, metric: str, **query: str | None) -> Markup:
    ranges = [el("a", {"href": href(path, days=d, metric=metric, **query),
                       "class": "here" if d == days else None}, f"{d} days")
              for d in DAY_CHOICES]
    metrics = [el("a", {"href": href(path, days=days, metric=m, **query),
                        "class": "here" if m == metric else None}, m) for m in METRICS]
    return el("p", {"class": "tabs"}, ranges, " · ", metrics)


def _stat(label: str, value: str, ident: str) -> Markup:
    return el("div", {"class": "stat"}, el("div", {"class": "v", "id": ident}, value),
              el("div", {"class": "k"}, label))


@dataclass(frozen=True, slots=True)
class Overview:
    customers: int
    active: int
    requests: int
    grid: UsageGrid
    recent: list[RequestLine]
    names: dict[str, str]


def overview(o: Overview) -> Markup:
    g = o.grid
    cards = el("div", {"class": "cards"},
               _stat("customers", count(o.customers), "stat-customers"),
               _stat("active subscriptions", count(o.active), "stat-active"),
               _stat("requests kept", count(o.requests), "stat-requests"),
               _stat(f"charged, last {len(g.days)} days", usd(g.charge), "stat-charge"),
               _stat(f"tokens, last {len(g.days)} days", count(g.tokens), "stat-tokens"))
    return join([cards, el("h2", None, f"Tokens per day per customer, last {len(g.days)} days"),
                 bar_chart(g), el("h2", None, "Recent requests"),
                 requests_table(o.recent, o.names),
                 el("p", None, el("a", {"href": "/dashboard/requests"}, "All requests »"))])


def usage_page(g: UsageGrid, days: int) -> Markup:
    head = el("tr", None, el("th", None, "Customer"), el("th", {"class": "n"}, g.metric))
    body = [el("tr", {"data-series": s.key},
               el("td", None, s.label if s.key == "*others*" else _customer_cell(s.key, {s.key: s.label})),
               el("td", {"class": "n"}, fmt(s.total, g.metric))) for s in g.series]
    table = el("table", {"id": "usage-totals"}, el("thead", None, head), el("tbody", None, body))
    return join([_tabs("/dashboard/usage", days, g.metric),
                 el("p", {"class": "muted"}, f"{count(g.requests)} requests, "
                    f"{count(g.tokens)} tokens, {usd(g.charge)} charged, from "
                    f"{count(g.customers)} customers; days are UTC."),
                 bar_chart(g), el("h2", None, "Per customer"), table])


def customer_page(c: CustomerLine, g: UsageGrid, days: int, recent: Listing[RequestLine],
                  names: dict[str, str]) -> Markup:
    facts = [("Customer", el("span", {"class": "mono", "id": "customer-id"}, c.customer_id)),
             ("Name", c.name or ""), ("Email", c.email or ""), ("Phone", c.phone or ""),
             ("Plan", c.plan or "none"), ("Status", _status(c)),
             ("Credit left", "" if c.credit_left is None else usd(c.credit_left)),
             ("  of which this cycle", "" if c.cycle_left is None else usd(c.cycle_left)),
             ("  of which bundles", "" if c.bundle_left is None else usd(c.bundle_left)),
             ("Cycle ends", "" if c.cycle_end is None else when(c.cycle_end)),
             ("Customer since", when(c.created_at))]
    table = el("table", {"id": "customer"}, el("tbody", None, [
        el("tr", None, el("th", None, k), el("td", None, v)) for k, v in facts]))
    more = el("a", {"href": href("/dashboard/requests", customer=c.customer_id)},
              "All of this customer's requests »")
    return join([table, el("h2", None, f"Usage, last {len(g.days)} days"),
                 _tabs(customer_href(c.customer_id), days, g.metric), bar_chart(g),
                 el("h2", None, "Recent requests"), requests_table(recent.items, names),
                 el("p", None, more)])


def meters_table(rows: Sequence[MeterLine]) -> Markup:
    if not rows:
        return el("p", {"class": "muted"}, "No meters yet: POST /v1/meters creates one.")
    unit = {"tokens_1m": "per 1M tokens", "characters_1m": "per 1M characters",
            "minutes": "per minute", "requests": "per request"}
    head = el("tr", None, el("th", None, "Meter"), el("th", None, "Slug"),
              el("th", None, "Pricing"), el("th", None, "Tiers"))

    def tiers(m: MeterLine) -> Markup:
        rate = ("{}% of cost" if m.rate_type == "percentage"
                else "${} " + unit.get(m.tier_type, m.tier_type))
        return join([el("div", None, f"from {start:,f}: " + rate.format(f"{r:f}"))
                     for start, r in m.tiers])

    body = [el("tr", {"data-meter": m.meter_id}, el("td", None, m.name),
               el("td", {"class": "mono"},
                  el("a", {"href": href("/dashboard/requests", meter=m.meter_id)}, m.slug)),
               el("td", None, f"{m.rate_type}, {m.tier_type}"), el("td", None, tiers(m)))
            for m in rows]
    return el("table", {"id": "meters"}, el("thead", None, head), el("tbody", None, body))


def plans_table(rows: Sequence[PlanLine]) -> Markup:
    head = el("tr", None, el("th", None, "Plan"), el("th", {"class": "n"}, "Price"),
              el("th", {"class": "n"}, "Included credit"), el("th", None, "Meters"),
              el("th", None, "Credit bundles"), el("th", {"class": "n"}, "Subscribers"))
    body = [el("tr", {"data-plan": p.plan_id},
               el("td", None, p.name, " ", pill("default", "off") if p.is_default else None),
               el("td", {"class": "n"}, f"{usd(p.price)}/{p.interval}"),
               el("td", {"class": "n"}, usd(p.included_credit)),
               el("td", {"class": "mono"}, ", ".join(p.meters)),
               el("td", None, join([el("div", None, f"{n}: {usd(cost)} for {usd(credit)}")
                                    for n, cost, credit in p.bundles])),
               el("td", {"class": "n"}, count(p.subscribers)))
            for p in rows]
    return el("table", {"id": "plans"}, el("thead", None, head), el("tbody", None, body))


def message(text: str) -> Markup:
    return el("p", {"class": "muted", "id": "message"}, text)
