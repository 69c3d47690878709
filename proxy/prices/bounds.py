"""What a price may be: the bounds no real meter comes near. Pure, and free of ``proxy.config``
imports, so the config loader (``meters:``) and the catalog's conversion (``convert``) share them.

A price outside them is not a price to charge with: issue 24 listed a rate of ``9e999999`` from a
misbehaving upstream, and every usage line got a 1,000,000-digit charge, rotation deleted every
billed line on disk, and ``/usage`` raised ``decimal.Overflow``; 100,000 tiers cut throughput 4x.
Such a meter is left out with its reason (its charges are ``null``: unknown, never a guess).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final

#: USD per unit (fixed: per 1M tokens or characters, per minute, per request) or percent of the
#: provider's cost (percentage). Real rates are cents to a few hundred dollars.
MAX_RATE: Final = Decimal(10) ** 6
#: A tier start, in the tier type's unit (tokens, characters, minutes, requests): 10^15 tokens is
#: a billion times any real tier.
MAX_START: Final = Decimal(10) ** 15
#: Tiers on one meter: Lava's own graduated meters have a handful.
MAX_TIERS: Final = 100
#: Significant digits of one rate or start, and its most fractional digits (10^-24: far below
#: Lava's 10-digit money precision, and exact under the 28-digit arithmetic charges use).
MAX_DIGITS: Final = 28
MIN_EXPONENT: Final = -24


def number_problem(value: Decimal, what: str, top: Decimal) -> str | None:
    """Why ``value`` cannot be a rate or a tier start (``what`` names it), or ``None``."""
    if not value.is_finite() or value < 0:
        return f"a tier's {what} is not a finite number >= 0"
    if value > top:
        return f"a tier's {what} is above {top:,f}, beyond any real meter"
    _sign, digits, exponent = value.as_tuple()
    if len(digits) > MAX_DIGITS or (isinstance(exponent, int) and exponent < MIN_EXPONENT):
        return (f"a tier's {what} has more than {MAX_DIGITS} digits or {-MIN_EXPONENT} decimal "
                "places")
    return None


def tiers_problem(tiers: Sequence[tuple[Decimal, Decimal]]) -> str | None:
    """Why ``(start, rate)`` pairs cannot be priced, or ``None``: at least one and at most
    ``MAX_TIERS``, each number within bounds, the first starting at 0, starts ascending."""
    if not tiers or tiers[0][0] != 0:
        return "tiers must start at 0"
    if len(tiers) > MAX_TIERS:
        return f"more than {MAX_TIERS} tiers"
    for start, rate in tiers:
        why = number_problem(start, "start", MAX_START) or number_problem(rate, "rate", MAX_RATE)
        if why is not None:
            return why
    if any(tiers[i][0] >= tiers[i + 1][0] for i in range(len(tiers) - 1)):
        return "tier starts must ascend"
    return None
