"""What the dashboard shows, read from one merchant's ``Scope`` into plain rows: customers with
their plan, credit and status; request records, newest first, a page at a time; usage per day per
customer; meters and plans. Reads only: a subscription whose cycle has turned is shown renewed
(``customers.active_subscription``) without being saved.

Request records are the one list that grows large (up to the gateway's cap, 100,000): the usage
grid reads only the few fields it needs of each stored record (``Store.fields``; SQLite extracts
them without loading the documents), and a filtered page decodes only the rows it shows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Generic, Literal, TypeVar

from ..accounts import Customer, Scope
from ..accounts.catalog import plan_bundles
from ..accounts.customers import active_subscription

T = TypeVar("T")
Metric = Literal["tokens", "charge", "requests"]
METRICS: tuple[Metric, ...] = ("tokens", "charge", "requests")
#: The dashboard's list pages and the widest usage window it draws.
PAGE = 50
MAX_DAYS = 366
#: Customers drawn as their own series; the rest are summed into one.
TOP = 8
NO_CUSTOMER = ""


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _take(items: Iterator[T], limit: int, key: Callable[[T], str]) -> Listing[T]:
    got = list(islice(items, limit + 1))
    more = len(got) > limit
    got = got[:limit]
    return Listing(got, key(got[-1]) if more and got else None)


# -- customers --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CustomerLine:
    customer_id: str
    name: str | None
    email: str | None
    phone: str | None
    plan: str | None
    status: Literal["active", "out of credit", "no plan"]
    credit_left: Decimal | None
    cycle_left: Decimal | None
    bundle_left: Decimal | None
    cycle_end: float | None
    created_at: float


def display_name(c: Customer) -> str | None:
    name = " ".join(p for p in (c.first_name, c.last_name) if p)
    return name or None


def customer_line(scope: Scope, c: Customer) -> CustomerLine:
    sub = active_subscription(scope, c)
    plan = None if sub is None else scope.plans.get(sub.plan_id)
    if sub is None or plan is None:
        return CustomerLine(c.customer_id, display_name(c), c.email, c.phone, None, "no plan",
                            None, None, None, None, c.created_at)
    left = sub.cycle_remaining + sub.bundle_remaining
    return CustomerLine(c.customer_id, display_name(c), c.email, c.phone, plan.name,
                        "active" if left > 0 else "out of credit", left, sub.cycle_remaining,
                        sub.bundle_remaining, sub.cycle_end_at, c.created_at)


def customers_page(scope: Scope, cursor: str | None, limit: int = PAGE) -> Listing[CustomerLine]:
    if cursor is not None and scope.customers.get(cursor) is None:
        cursor = None  # a stale link shows the first page rather than nothing
    lines = (customer_line(scope, c) for c in scope.customers.scan(before=cursor))
    return _take(lines, limit, lambda c: c.customer_id)


def customer_names(scope: Scope, ids: list[str]) -> dict[str, str]:
    """A label per customer id: the name, else the email, else the id itself."""
    out = {}
    for cid in ids:
        c = scope.customers.get(cid) if cid else None
        out[cid] = ("no customer" if not cid else
                    cid if c is None else display_name(c) or c.email or cid)
    return out


# -- requests ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RequestLine:
    request_id: str
    timestamp: float
    customer_id: str | None
    meter: str | None          # the meter's slug (its id if the meter was deleted)
    meter_id: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    charge: Decimal
    status: str


def requests_page(scope: Scope, *, cursor: str | None, customer_id: str | None = None,
                  meter_id: str | None = None, limit: int = PAGE) -> Listing[RequestLine]:
    """Newest first. Filters test the stored documents, so a rare customer's page among many
    records costs a scan of plain dicts, not a decode of each record."""
    if cursor is not None and scope.store.get(scope.requests.kind, cursor) is None:
        cursor = None

    listed = scope.store.fields(scope.requests.kind, ("request_id", "customer_id", "meter_id"),
                                before=cursor)
    ids = (str(rid) for rid, cid, mid in listed
           if (customer_id is None or cid == customer_id) and (meter_id is None or mid == meter_id))
    found = _take(ids, limit, lambda rid: rid)
    slugs: dict[str, str] = {}
    lines = []
    for rid in found.items:
        row = scope.requests.get(rid)
        if row is None:
            continue
        if row.meter_id is not None and row.meter_id not in slugs:
            meter = scope.meters.get(row.meter_id)
            slugs[row.meter_id] = row.meter_id if meter is None else meter.meter_slug
        lines.append(RequestLine(row.request_id, row.timestamp, row.customer_id,
                                 None if row.meter_id is None else slugs[row.meter_id],
                                 row.meter_id, row.model, row.input_tokens, row.output_tokens,
                                 row.charge, row.status))
    return Listing(lines, found.next_cursor)


# -- usage per day per customer ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Series:
    key: str                   # customer id, NO_CUSTOMER, or "*others*"
    label: str
    values: tuple[Decimal, ...]

    @property
    def total(self) -> Decimal:
        return sum(self.values, Decimal(0))


@dataclass(frozen=True, slots=True)
class UsageGrid:
    days: tuple[date, ...]
    metric: Metric
    series: tuple[Series, ...]     # the top customers, then the others summed
    customers: int                 # customers with usage in the window
    requests: int
    tokens: int
    charge: Decimal


class _Sums:
    __slots__ = ("charge", "requests", "tokens")

    def __init__(self, days: int) -> None:
        self.tokens = [0] * days
        self.charge = [Decimal(0)] * days
        self.requests = [0] * days

    def values(self, metric: Metric) -> list[Decimal]:
        src: list[int] | list[Decimal] = (self.tokens if metric == "tokens" else self.charge
                                           if metric == "charge" else self.requests)
        return [Decimal(v) for v in src]


def window(now: float, days: int) -> tuple[date, ...]:
    """The last ``days`` calendar days (UTC), today included, oldest first."""
    today = datetime.fromtimestamp(now, UTC).date()
    return tuple(today - timedelta(days=i) for i in range(days - 1, -1, -1))


#: What the grid reads of each stored request record (``RequestRow``'s attribute names).
_GRID_FIELDS = ("timestamp", "customer_id", "input_tokens", "output_tokens", "charge")


def usage_grid(scope: Scope, *, days: int, metric: Metric, customer_id: str | None = None,
               top: int = TOP) -> UsageGrid:
    span = window(scope.now(), max(1, min(days, MAX_DAYS)))
    start = datetime.combine(span[0], datetime.min.time(), UTC).timestamp()
    end = start + 86400 * len(span)
    sums: dict[str, _Sums] = {}
    requests = tokens = 0
    charge = Decimal(0)
    for ts, who, tin, tout, spent in scope.store.fields(scope.requests.kind, _GRID_FIELDS):
        if not isinstance(ts, int | float) or not start <= ts < end:
            continue
        cid = str(who or NO_CUSTOMER)
        if customer_id is not None and cid != customer_id:
            continue
        s = sums.get(cid)
        if s is None:
            s = sums[cid] = _Sums(len(span))
        i = int((ts - start) // 86400)
        n = (tin if isinstance(tin, int) else 0) + (tout if isinstance(tout, int) else 0)
        c = Decimal(str(spent or 0))
        s.tokens[i] += n
        s.charge[i] += c
        s.requests[i] += 1
        requests, tokens, charge = requests + 1, tokens + n, charge + c
    ranked = sorted(sums, key=lambda k: (-sum(sums[k].values(metric)), k))
    shown, rest = ranked[:top], ranked[top:]
    names = customer_names(scope, shown)
    series = [Series(k, names[k], tuple(sums[k].values(metric))) for k in shown]
    if rest:
        merged = [sum(col, Decimal(0)) for col in zip(*(sums[k].values(metric) for k in rest),
                                                      strict=True)]
        series.append(Series("*others*", f"{len(rest)} other customers", tuple(merged)))
    return UsageGrid(span, metric, tuple(series), len(sums), requests, tokens, charge)


# -- catalog ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MeterLine:
    meter_id: str
    slug: str
    name: str
    rate_type: str
    tier_type: str
    tiers: tuple[tuple[Decimal, Decimal], ...]   # (start, rate)


@dataclass(frozen=True, slots=True)
class PlanLine:
    plan_id: str
    name: str
    price: Decimal
    interval: str
    included_credit: Decimal
    meters: tuple[str, ...]
    bundles: tuple[tuple[str, Decimal, Decimal], ...]   # (name, cost, credit)
    subscribers: int
    is_default: bool


def meters(scope: Scope) -> list[MeterLine]:
    return [MeterLine(m.meter_id, m.meter_slug, m.name, m.rate_type, m.tier_type,
                      tuple((t.start, t.rate) for t in m.tiers)) for m in scope.meters.scan()]


def plans(scope: Scope) -> list[PlanLine]:
    active: dict[str, int] = {}
    for s in scope.subscriptions.scan():
        if s.status == "active":
            active[s.plan_id] = active.get(s.plan_id, 0) + 1
    out = []
    for p in scope.plans.scan():
        names = tuple(m.meter_slug for m in (scope.meters.get(i) for i in p.meter_ids) if m)
        bundles = tuple((b.name, b.cost, b.credit_amount) for b in plan_bundles(scope, p.plan_id))
        out.append(PlanLine(p.plan_id, p.name, p.period_amount, p.billing_interval,
                            p.included_credit, names, bundles, active.get(p.plan_id, 0),
                            p.is_default))
    return out
