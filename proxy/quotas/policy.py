"""Which limits apply to a (customer, meter): ``QuotaSettings`` resolved into store checks. Pure.

A check names one counter in the store (its key), its kind and limit. A customer's own limits and,
when the request is on a configured meter, that customer-on-meter's limits are all checked at once;
admission needs every one of them to pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from ..errors import QuotaExceeded, QuotaKind
from .config import QuotaLimits, QuotaSettings

# One-letter kinds: they are in every Redis key and script argument.
REQUESTS: Final = "r"
TOKENS: Final = "t"
CONCURRENCY: Final = "c"
SPEND: Final = "s"
KIND_NAMES: Final[dict[str, QuotaKind]] = {REQUESTS: "requests", TOKENS: "tokens",
                                           CONCURRENCY: "concurrency", SPEND: "spend"}
MINUTE_MS: Final = 60_000
DAY_MS: Final = 86_400_000
#: Spend is counted in whole micro-dollars: integers add exactly in Lua and Python alike.
MICRO_USD: Final = Decimal(1_000_000)
#: Distinct (customer, meter) pairs whose resolved checks are kept; past it the cache restarts.
_CACHE_MAX: Final = 4096


@dataclass(frozen=True, slots=True)
class Check:
    kind: str  # REQUESTS, TOKENS, CONCURRENCY or SPEND
    key: str  # the counter's store key, prefix included
    limit: int  # micro-USD for SPEND
    window_ms: int  # 0 for CONCURRENCY
    customer_id: str
    meter: str | None  # set when this is a customer-on-meter limit


@dataclass(frozen=True, slots=True)
class Refusal:
    """The store's verdict on a refused admission: which check, and when it frees."""

    check: Check
    retry_ms: int


@dataclass(slots=True)
class Settlement:
    """What a finished ticket gives back to its store: the slot, and each reservation replaced by
    the real amount. ``admitted_ms`` is the store's time at admission (0: nothing was reserved)."""

    checks: Checks
    release: bool  # the ticket holds a concurrency slot
    lease: str  # its lease id in Redis ("" in memory)
    admitted_ms: float
    tokens: int
    tokens_reserved: int
    micro_usd: int
    micro_usd_reserved: int


class Checks(tuple[Check, ...]):
    """The checks of one customer (on one meter), with what every admission under them needs,
    worked out once: the policy caches these, the request path only reads them."""

    #: A token or spend limit: admission reserves an estimate.
    reserves: bool
    #: A spend limit: the reservation includes a charge estimate.
    spends: bool
    #: A concurrency limit: admission takes a slot.
    holds: bool
    #: The BATCH script's group spec (``<kind>:<limit>:<window ms>`` per check) and its keys.
    spec: str
    keys: tuple[str, ...]

    def __new__(cls, checks: Iterable[Check]) -> Checks:
        self = super().__new__(cls, checks)
        self.reserves = any(c.kind == TOKENS or c.kind == SPEND for c in self)
        self.spends = any(c.kind == SPEND for c in self)
        self.holds = any(c.kind == CONCURRENCY for c in self)
        self.spec = " ".join(f"{c.kind}:{c.limit}:{c.window_ms}" for c in self)
        self.keys = tuple(c.key for c in self)
        return self


#: No limit applies.
NO_CHECKS: Final = Checks(())


def to_micro_usd(usd: Decimal) -> int:
    """Rounded up: a spend limit is never exceeded by rounding."""
    return math.ceil(usd * MICRO_USD)


def _checks(prefix: str, customer: str, meter: str | None, q: QuotaLimits) -> list[Check]:
    # ``{customer}`` is a Redis Cluster hash tag: all of one customer's counters share a slot, so
    # one script can touch them all. Customer ids and slugs never contain braces (identity checks).
    base = f"{prefix}{{{customer}}}:" + (f"m:{meter}:" if meter is not None else "")
    out = []
    if q.requests_per_minute is not None:
        out.append(Check(REQUESTS, base + REQUESTS, q.requests_per_minute, MINUTE_MS, customer, meter))
    if q.tokens_per_minute is not None:
        out.append(Check(TOKENS, base + TOKENS, q.tokens_per_minute, MINUTE_MS, customer, meter))
    if q.usd_per_day is not None:
        out.append(Check(SPEND, base + SPEND, to_micro_usd(q.usd_per_day), DAY_MS, customer, meter))
    if q.concurrent_requests is not None:
        out.append(Check(CONCURRENCY, base + CONCURRENCY, q.concurrent_requests, 0, customer, meter))
    return out


class Policy:
    """Resolves a request's identity into its checks; cached, rebuilt whole on reload."""

    __slots__ = ("_cache", "_customers", "_default", "_meters", "_prefix")

    def __init__(self, settings: QuotaSettings) -> None:
        self._prefix = settings.redis.key_prefix
        self._default = settings.default
        self._customers = dict(settings.customers)
        self._meters = {m: q for m, q in settings.meters if q.any()}
        self._cache: dict[tuple[str, str | None], Checks] = {}

    def checks(self, customer_id: str, meter: str | None) -> Checks:
        key = (customer_id, meter)
        found = self._cache.get(key)
        if found is not None:
            return found
        out = _checks(self._prefix, customer_id, None, self._customers.get(customer_id, self._default))
        mq = self._meters.get(meter) if meter is not None else None
        if mq is not None:
            out += _checks(self._prefix, customer_id, meter, mq)
        result = Checks(out)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = result
        return result


def _wait(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{math.ceil(seconds)} s"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} min"
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    return f"{hours} h {minutes} min"


def refusal_error(r: Refusal) -> QuotaExceeded:
    """The 429 for a refusal: which limit, its value, and when it frees."""
    c, seconds = r.check, r.retry_ms / 1000
    kind = KIND_NAMES[c.kind]
    whose = f"customer {c.customer_id}" + (f" on meter {c.meter}" if c.meter is not None else "")
    limit: int | Decimal = c.limit
    if c.kind == SPEND:
        limit = Decimal(c.limit) / MICRO_USD
        what = f"its spend limit of ${limit:.2f} per day (estimated charge)"
        when = f"the window frees enough in {_wait(seconds)}"
    elif c.kind == TOKENS:
        what = f"its limit of {c.limit} tokens per minute (input + output)"
        when = f"the window frees in {_wait(seconds)}"
    elif c.kind == REQUESTS:
        what = f"its limit of {c.limit} requests per minute"
        when = f"retry in {_wait(seconds)}"
    else:
        what = f"its limit of {c.limit} concurrent requests"
        when = "a slot frees when one of its requests finishes; retry shortly"
    message = f"Quota exceeded: {whose} has reached {what}; {when}."
    return QuotaExceeded(message, kind=kind, limit=limit, retry_after=seconds)
