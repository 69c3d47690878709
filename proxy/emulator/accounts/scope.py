"""One merchant's view of the store: a typed table per record kind, the clock, and the event
hook every accounts module shares; plus the list-page helper."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

from ..store import Store
from .codec import Table
from .records import (
    CheckoutSecret,
    CheckoutSession,
    CreditBundle,
    Customer,
    Meter,
    MeterSlug,
    NotFound,
    Plan,
    RequestRow,
    Subscription,
    TierUsage,
    Webhook,
)

T = TypeVar("T")

#: (event name, data object): the accounts' webhook fan-out.
Emit = Callable[[str, dict[str, object]], None]

MAX_PAGE = 100
DEFAULT_PAGE = 10


@dataclass(frozen=True, slots=True)
class Scope:
    merchant_id: str
    store: Store
    clock: Callable[[], float]
    emit: Emit
    meters: Table[Meter]
    meter_slugs: Table[MeterSlug]
    plans: Table[Plan]
    bundles: Table[CreditBundle]
    customers: Table[Customer]
    subscriptions: Table[Subscription]
    checkouts: Table[CheckoutSession]
    requests: Table[RequestRow]
    webhooks: Table[Webhook]
    tier_usage: Table[TierUsage]
    #: Global (every merchant's sessions): the hosted checkout page's way in, by secret.
    checkout_secrets: Table[CheckoutSecret]

    def now(self) -> float:
        return self.clock()

    def listening(self) -> bool:
        """Whether any webhook would receive an event: rendering one is not free."""
        return self.webhooks.count() > 0


def open_scope(store: Store, merchant_id: str, clock: Callable[[], float], emit: Emit) -> Scope:
    def t(kind: str, cls: type[T], key: Callable[[T], str]) -> Table[T]:
        return Table(store, f"{kind}:{merchant_id}", cls, key)

    return Scope(
        merchant_id, store, clock, emit,
        meters=t("meter", Meter, lambda r: r.meter_id),
        meter_slugs=t("meter_slug", MeterSlug, lambda r: r.meter_slug),
        plans=t("plan", Plan, lambda r: r.plan_id),
        bundles=t("credit_bundle", CreditBundle, lambda r: r.credit_bundle_id),
        customers=t("customer", Customer, lambda r: r.customer_id),
        subscriptions=t("subscription", Subscription, lambda r: r.subscription_id),
        checkouts=t("checkout_session", CheckoutSession, lambda r: r.checkout_session_id),
        requests=t("request", RequestRow, lambda r: r.request_id),
        webhooks=t("webhook", Webhook, lambda r: r.webhook_id),
        tier_usage=t("tier_usage", TierUsage, lambda r: f"{r.customer_id}|{r.meter_id}"),
        checkout_secrets=secrets_table(store),
    )


def secrets_table(store: Store) -> Table[CheckoutSecret]:
    """Global, keyed by the checkout secret: the hosted page's lookup is one get."""
    return Table(store, "checkout_secret", CheckoutSecret, lambda r: r.secret)


def need(record: T | None, what: str, ident: str) -> T:
    """The record, or a 404 naming what was looked for."""
    if record is None:
        raise NotFound(f"No {what} with id {ident[:80]!r}", code=f"{what.replace(' ', '_')}"
                       "_not_found")
    return record


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: items newest first, and the cursor for the next page if there is one."""

    items: list[object]
    has_more: bool
    next_cursor: str | None


def page(items: Iterable[T], limit: int, cursor_of: Callable[[T], str],
         render: Callable[[T], object]) -> Page:
    """Take ``limit`` items (plus one, to know whether there are more) from a newest-first scan."""
    taken = list(islice(iter(items), limit + 1))
    more = len(taken) > limit
    taken = taken[:limit]
    return Page([render(x) for x in taken], more,
                cursor_of(taken[-1]) if more and taken else None)


def filtered(items: Iterator[T], keep: Callable[[T], bool]) -> Iterator[T]:
    return (x for x in items if keep(x))
