"""Charges computed from meter prices with Lava's own arithmetic: graduated tiers, fixed or
percentage rates, Decimal only.

A local mirror of Lava's meter semantics (reference/lava-api.md 4.2): tiers accumulate per
customer per meter, so 5M tokens over tiers 0→5, 1M→3 (per 1M) cost 5 + 4*3 = 17. Each tier's
share of a request is computed as Lava computes it (units in the tier type's unit: tokens,
characters, minutes, requests; fixed: units / per x rate; percentage: the units' share of the
provider cost x rate %) and rounded, where it has more, to Lava's 10 fractional digits, so a charge
here equals Lava's to the last digit.

Prices come from two places (``Pricing``): the ``meters:`` config (pinned, always wins) and the
catalog listed from Lava (``proxy.prices``), swapped in whole by ``use_catalog``. A request whose
meter has no price is charged ``None``: unknown, never 0.

The arithmetic runs in one bounded decimal context (``ARITHMETIC``): the default context's 28
digits (what Lava's arithmetic uses, so charges stay equal to the last digit), but exponents
bounded and overflow trapped, so no value can grow to a million digits. With prices within
``prices.bounds`` and counts within ``usage.fields`` a charge stays below 10^17 USD; the trap is
the proof's backstop, and the recorder turns a trapped charge into ``null`` (counted).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from decimal import localcontext as _localcontext
from typing import Final, Literal

from ..config import MeterPrice, Tier, TierType
from ..usage.base import Usage

#: Customer x meter tier positions kept; past it the least recently charged one is forgotten (that
#: customer starts again from the first tier on that meter: an estimate; Lava's is the bill).
MAX_ACCOUNTS: Final = 100_000
#: 28 digits and half-even rounding as the default context (Lava's), exponents within ±999 and
#: overflow, invalid operations and division by zero raised, never carried on as huge or NaN values.
ARITHMETIC: Final = Context(prec=28, rounding=ROUND_HALF_EVEN, Emax=999, Emin=-999,
                            traps=[InvalidOperation, DivisionByZero, Overflow])

RateType = Literal["fixed", "percentage"]

_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_SIXTY: Final = Decimal(60)
_HUNDRED: Final = Decimal(100)
#: Lava's money precision (``"0.0639100000"``).
_TEN_DIGITS: Final = Decimal("1e-10")
#: Fixed rates are per this many units of the tier type (tiers' ``start`` is in those units).
_PER: Final[dict[TierType, Decimal]] = {
    "tokens_1m": Decimal(1_000_000),
    "characters_1m": Decimal(1_000_000),
    "minutes": _ONE,
    "requests": _ONE,
}


def quantity(tier_type: TierType, usage: Usage) -> Decimal | None:
    """How much of a meter's base unit (tokens, characters, seconds, requests) one response used;
    ``None`` when usage does not say."""
    if tier_type == "tokens_1m":
        total = usage.total_tokens
        return None if total is None else Decimal(max(total, 0))
    if tier_type == "characters_1m":
        chars = usage.input_characters
        return None if chars is None else Decimal(max(chars, 0))
    if tier_type == "minutes":
        secs = usage.audio_seconds
        return None if secs is None else max(secs, _ZERO)
    return _ONE


def units(tier_type: TierType, usage: Usage) -> Decimal | None:
    """``quantity`` in the tier type's own unit: seconds become minutes, as Lava counts them."""
    amount = quantity(tier_type, usage)
    if amount is None or tier_type != "minutes":
        return amount
    return amount / _SIXTY


def lava_round(amount: Decimal) -> Decimal:
    """Round to 10 fractional digits (half even) only where there are more: ``17`` stays ``17``,
    equal in value to Lava's ``"17.0000000000"``."""
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -10:
        return amount
    return amount.quantize(_TEN_DIGITS, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class _Band:
    start: Decimal          # tier-type units
    end: Decimal | None     # tier-type units, None: open-ended
    rate: Decimal           # per ``_PER`` units (fixed) or percent of the provider cost


@dataclass(frozen=True, slots=True)
class MeterRate:
    """One meter's price, ready to charge with: what ``Pricing`` looks up per request."""

    slug: str
    tier_type: TierType
    rate_type: RateType
    bands: tuple[_Band, ...]

    @classmethod
    def of(cls, slug: str, tier_type: TierType, rate_type: RateType,
           tiers: Iterable[Tier]) -> MeterRate:
        """Tiers must be non-empty, the first starting at 0, starts ascending (checked by callers:
        the config loader and the catalog's conversion)."""
        ts = list(tiers)
        bands = tuple(_Band(t.start, ts[i + 1].start if i + 1 < len(ts) else None, t.rate)
                      for i, t in enumerate(ts))
        return cls(slug, tier_type, rate_type, bands)

    @classmethod
    def pinned(cls, m: MeterPrice) -> MeterRate:
        """A ``meters:`` config entry."""
        return cls.of(m.slug, m.tier_type, m.rate_type, m.tiers)

    def cost(self, before: Decimal, used: Decimal, provider_cost: Decimal | None) -> Decimal | None:
        """The charge for units ``[before, before + used)``; ``None`` for a percentage meter
        without the provider's cost (a markup of an unknown base is unknown). Computed in
        ``ARITHMETIC``: raises ``ArithmeticError`` rather than return an unbounded number."""
        fixed = self.rate_type == "fixed"
        if not fixed and provider_cost is None:
            return None
        with _localcontext(ARITHMETIC):
            return self._cost(before, used, provider_cost, fixed)

    def _cost(self, before: Decimal, used: Decimal, provider_cost: Decimal | None,
              fixed: bool) -> Decimal:
        base = provider_cost if provider_cost is not None else _ZERO  # read for percentage only
        lo, hi = before, before + used
        per = _PER[self.tier_type]
        total = _ZERO
        touched = False
        for band in self.bands:
            a = max(lo, band.start)
            b = hi if band.end is None else min(hi, band.end)
            if b <= a:
                continue
            touched = True
            n = b - a
            if fixed:
                total += lava_round(n / per * band.rate)
            else:
                total += lava_round(base * n / used * band.rate / _HUNDRED)
        if not touched and not fixed:
            # Nothing countable in the tier unit, yet the provider cost something: Lava prices it
            # all at the tier the customer has reached.
            rate = self.bands[0].rate
            for band in self.bands:
                if band.start <= before:
                    rate = band.rate
            total = lava_round(base * rate / _HUNDRED)
        return total


class Pricing:
    """Charges each response against its meter's tiers; remembers each customer's tier position.

    ``use_catalog`` replaces the prices listed from Lava in one assignment (the request path never
    sees half a catalog); pinned ``meters:`` from config win per slug. A charge is one dict lookup
    plus the arithmetic over the meter's tiers (at most ``prices.bounds.MAX_TIERS``). Tier
    positions are kept for at most ``max_accounts`` customer x meter pairs, least recently charged
    forgotten first (``usage_totals.max_customers`` sets it: one bound for per-customer state).
    """

    __slots__ = ("_max_accounts", "_meters", "_pinned", "_used", "forgotten", "on_unknown")

    def __init__(self, meters: Iterable[MeterPrice], *, max_accounts: int = MAX_ACCOUNTS) -> None:
        self._pinned: dict[str, MeterRate] = {m.slug: MeterRate.pinned(m) for m in meters}
        self._meters: dict[str, MeterRate] = dict(self._pinned)
        self._used: OrderedDict[tuple[str, str], Decimal] = OrderedDict()
        self._max_accounts = max(max_accounts, 1)
        #: Tier positions forgotten to stay within ``max_accounts``.
        self.forgotten = 0
        #: Told the slug of a measured response whose meter has no price (the catalog may be
        #: behind Lava: it lists again soon). Must be O(1) and never raise.
        self.on_unknown: Callable[[str], None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._meters)

    def priced(self, meter: str | None) -> bool:
        return meter is not None and meter in self._meters

    def use_catalog(self, rates: Mapping[str, MeterRate]) -> None:
        """Price with ``rates`` (by slug) from now on, under the pinned config prices."""
        self._meters = {**rates, **self._pinned}

    def charge(self, customer: str | None, meter: str | None, usage: Usage,
               provider_cost: Decimal | None = None) -> Decimal | None:
        """The charge for one response, advancing the customer's tier position.

        ``None`` when the meter has no price, usage is missing, or a percentage meter lacks the
        provider cost (absent is not zero: an unmeasured response is not a free one).
        """
        if meter is None or usage.source in ("missing", "none"):
            return None
        price = self._meters.get(meter)
        if price is None:
            if self.on_unknown is not None:
                self.on_unknown(meter)
            return None
        used = units(price.tier_type, usage)
        if used is None:
            return None
        pct = provider_cost if price.rate_type == "percentage" else None
        # Kept on flat meters too: Lava charges [position, position + used), and in 28 digits
        # (position + used) - position is not always ``used`` (minutes: seconds / 60), which can
        # move the 10th decimal of the charge.
        key = (customer or "", meter)
        used_ = self._used
        before = used_.get(key)
        if before is None:
            before = _ZERO
            if len(used_) >= self._max_accounts:
                used_.popitem(last=False)
                self.forgotten += 1
        else:
            used_.move_to_end(key)
        charge = price.cost(before, used, pct)
        # After the arithmetic: a charge that raised leaves the position where it was.
        used_[key] = ARITHMETIC.add(before, used)
        return charge

    def quote(self, customer: str | None, meter: str | None, tokens: int,
              characters: int | None = None) -> Decimal | None:
        """What ``charge`` would bill for ``tokens`` (or, on a ``characters_1m`` meter,
        ``characters``) now, without moving the customer's tier position: a quota reservation
        made before the request leaves. ``None`` for an unpriced meter, a unit the estimate
        cannot count (minutes), or a percentage meter (its base, the provider's cost, is known
        only afterwards)."""
        price = self._meters.get(meter) if meter is not None else None
        if price is None or price.rate_type != "fixed":
            return None
        tier = price.tier_type
        if tier == "tokens_1m":
            used = Decimal(max(tokens, 0))
        elif tier == "characters_1m" and characters is not None:
            used = Decimal(max(characters, 0))
        elif tier == "requests":
            used = _ONE
        else:
            return None
        if len(price.bands) == 1:  # one tier (most meters): the position does not matter
            return lava_round(used / _PER[tier] * price.bands[0].rate)
        return price.cost(self.position(customer, price.slug), used, None)

    def position(self, customer: str | None, meter: str) -> Decimal:
        """Units of the meter's tier type (minutes for ``minutes``) charged so far for this
        customer on this meter (0 once forgotten past ``max_accounts``)."""
        return self._used.get((customer or "", meter), _ZERO)
