"""Pure billing arithmetic: a request's provider base cost (a small mock price table), its charge
under a meter (graduated tiers, fixed or percentage), and drawing plan credit. ``Decimal`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from .records import BreakdownLine, Meter, Tier, TierType

ZERO: Final = Decimal(0)
_MILLION: Final = Decimal(1_000_000)
_SIXTY: Final = Decimal(60)
_HUNDRED: Final = Decimal(100)
_TEN_DIGITS: Final = Decimal("1e-10")


def quantize(amount: Decimal) -> Decimal:
    """Lava's money precision: 10 fractional digits (``"0.0639100000"``)."""
    return amount.quantize(_TEN_DIGITS, rounding=ROUND_HALF_EVEN)


def money(amount: Decimal) -> str:
    return f"{quantize(amount):f}"


@dataclass(frozen=True, slots=True)
class Counts:
    """What a request consumed, in every unit a meter can price. Absent counts are zero here:
    billing needs a number, the request record keeps what the provider said."""

    input_tokens: int = 0
    output_tokens: int = 0
    input_characters: int = 0
    output_characters: int = 0
    input_seconds: Decimal = ZERO
    output_seconds: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M input/output tokens, per 1M characters (speech), per minute of audio."""

    input_per_1m: Decimal
    output_per_1m: Decimal
    per_1m_characters: Decimal = Decimal(15)
    per_minute: Decimal = Decimal("0.006")


def _p(i: str, o: str) -> Price:
    return Price(Decimal(i), Decimal(o))


#: Mock list prices, matched on the longest model-name prefix (dated snapshots match their
#: family). Close to the providers' public prices; they only need to be plausible and stable.
PRICES: Final[tuple[tuple[str, Price], ...]] = (
    ("gpt-5-nano", _p("0.05", "0.40")),
    ("gpt-5-mini", _p("0.25", "2.00")),
    ("gpt-5", _p("1.25", "10.00")),
    ("gpt-4.1-nano", _p("0.10", "0.40")),
    ("gpt-4.1-mini", _p("0.40", "1.60")),
    ("gpt-4.1", _p("2.00", "8.00")),
    ("gpt-4o-mini", _p("0.15", "0.60")),
    ("gpt-4o", _p("2.50", "10.00")),
    ("text-embedding-3-small", _p("0.02", "0")),
    ("text-embedding-3-large", _p("0.13", "0")),
    ("claude-haiku", _p("1.00", "5.00")),
    ("claude-3-5-haiku", _p("0.80", "4.00")),
    ("claude-sonnet", _p("3.00", "15.00")),
    ("claude-opus", _p("15.00", "75.00")),
    ("deepseek", _p("0.27", "1.10")),
)
DEFAULT_PRICE: Final = _p("1.00", "2.00")


def price_for(model: str | None) -> Price:
    best: tuple[int, Price] = (0, DEFAULT_PRICE)
    name = (model or "").lower()
    for prefix, price in PRICES:
        if name.startswith(prefix) and len(prefix) > best[0]:
            best = (len(prefix), price)
    return best[1]


def base_cost(model: str | None, counts: Counts) -> tuple[Decimal, Decimal]:
    """(input cost, output cost) in USD of what the provider served, at mock list prices."""
    p = price_for(model)
    cost_in = (Decimal(counts.input_tokens) * p.input_per_1m / _MILLION
               + Decimal(counts.input_characters) * p.per_1m_characters / _MILLION
               + counts.input_seconds * p.per_minute / _SIXTY)
    cost_out = (Decimal(counts.output_tokens) * p.output_per_1m / _MILLION
                + Decimal(counts.output_characters) * p.per_1m_characters / _MILLION
                + counts.output_seconds * p.per_minute / _SIXTY)
    return quantize(cost_in), quantize(cost_out)


def units(tier_type: TierType, counts: Counts) -> Decimal:
    """How many units of the meter's tier type a request used (tiers' ``start`` is in these)."""
    if tier_type == "tokens_1m":
        return Decimal(counts.input_tokens + counts.output_tokens)
    if tier_type == "characters_1m":
        return Decimal(counts.input_characters + counts.output_characters)
    if tier_type == "minutes":
        return (counts.input_seconds + counts.output_seconds) / _SIXTY
    return Decimal(1)


def _per_unit_divisor(tier_type: TierType) -> Decimal:
    return _MILLION if tier_type in ("tokens_1m", "characters_1m") else Decimal(1)


def split(tiers: tuple[Tier, ...], already: Decimal, amount: Decimal) -> list[tuple[Tier, Decimal]]:
    """Graduated split: the units ``[already, already + amount)`` as (tier, units in that tier).

    Tier ``i`` covers ``[tiers[i].start, tiers[i+1].start)``; the last one is open-ended.
    """
    out: list[tuple[Tier, Decimal]] = []
    lo, hi = already, already + amount
    for i, tier in enumerate(tiers):
        end = tiers[i + 1].start if i + 1 < len(tiers) else None
        a = max(lo, tier.start)
        b = hi if end is None else min(hi, end)
        if b > a:
            out.append((tier, b - a))
    return out


def _tier_at(tiers: tuple[Tier, ...], position: Decimal) -> Tier:
    current = tiers[0]
    for tier in tiers:
        if tier.start <= position:
            current = tier
    return current


def charge(meter: Meter, already: Decimal, counts: Counts,
           cost: Decimal) -> tuple[Decimal, Decimal, tuple[BreakdownLine, ...]]:
    """(amount, units used, breakdown) for one request on ``meter``, ``already`` units into the
    cycle. Fixed: units x tier rate; percentage: the tier's % of the base cost for its units."""
    used = units(meter.tier_type, counts)
    parts = split(meter.tiers, already, used)
    if not parts and meter.rate_type == "percentage":
        # Nothing countable in the tier unit, yet the provider cost something: price it all
        # at the tier the customer has reached.
        parts = [(_tier_at(meter.tiers, already), ZERO)]
    lines: list[BreakdownLine] = []
    total = ZERO
    for tier, n in parts:
        if meter.rate_type == "fixed":
            amount = n / _per_unit_divisor(meter.tier_type) * tier.rate
        else:
            share = cost if used == 0 else cost * n / used
            amount = share * tier.rate / _HUNDRED
        amount = quantize(amount)
        total += amount
        lines.append(BreakdownLine(tier.start, tier.rate, meter.tier_type, n, amount))
    return total, used, tuple(lines)


def draw(cycle: Decimal, bundle: Decimal, amount: Decimal) -> tuple[Decimal, Decimal]:
    """Take ``amount`` from cycle credit first, then bundle credit; never below zero.

    The request that crosses zero was already served (credit is checked before the provider is
    called), so what credit cannot cover is absorbed rather than carried as debt.
    """
    from_cycle = min(max(cycle, ZERO), amount)
    rest = amount - from_cycle
    from_bundle = min(max(bundle, ZERO), rest)
    return cycle - from_cycle, bundle - from_bundle
