"""Lava's meters → the ``MeterRate``s charges are computed with. Pure: no I/O, no clock.

A meter the sidecar cannot price exactly as Lava would (an unknown ``rate_type`` or tier type, tiers
that do not start at 0 or do not ascend, a rate that is not a finite number ≥ 0) is left out with
its reason: its requests are charged ``null``, never a guess.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, cast, get_args

from ..billing import Meter
from ..config import Tier, TierType
from ..metering.pricing import MeterRate, RateType

_TIER_TYPES: Final = frozenset(get_args(TierType))
_RATE_TYPES: Final = frozenset(get_args(RateType))
#: Same bound as a meter slug on a request (``identity.METER_SLUG_RE``).
_MAX_SLUG: Final = 128


@dataclass(frozen=True, slots=True)
class Catalog:
    """One listing's result: prices by slug, and the meters left out (slug, reason)."""

    rates: dict[str, MeterRate] = field(default_factory=dict)
    skipped: tuple[tuple[str, str], ...] = ()


def problem(m: Meter) -> str | None:
    """Why ``m`` cannot be priced, or ``None``."""
    if not m.meter_slug or len(m.meter_slug) > _MAX_SLUG:
        return "no usable meter_slug"
    if m.rate_type not in _RATE_TYPES:
        return f"rate_type {m.rate_type[:32]!r} is not fixed or percentage"
    if m.tier_type not in _TIER_TYPES:
        return f"tier type {str(m.tier_type)[:32]!r} is not one of {', '.join(sorted(_TIER_TYPES))}"
    if not m.tiers or m.tiers[0].start != 0:
        return "tiers must start at 0"
    if any(not (t.start.is_finite() and t.rate.is_finite()) or t.rate < 0 for t in m.tiers):
        return "a tier's start or rate is not a finite number >= 0"
    if any(a.start >= b.start for a, b in itertools.pairwise(m.tiers)):
        return "tier starts must ascend"
    return None


def to_rate(m: Meter) -> MeterRate:
    """``m`` as a price; only for a meter without a ``problem``."""
    return MeterRate.of(m.meter_slug, cast(TierType, m.tier_type), cast(RateType, m.rate_type),
                        (Tier(t.start, t.rate) for t in m.tiers))


def catalog(meters: Iterable[Meter]) -> Catalog:
    """Every priceable meter by slug; a slug listed twice keeps its first (Lava lists newest first)."""
    rates: dict[str, MeterRate] = {}
    skipped: list[tuple[str, str]] = []
    for m in meters:
        if m.meter_slug in rates:
            continue
        why = problem(m)
        if why is None:
            rates[m.meter_slug] = to_rate(m)
        else:
            skipped.append((m.meter_slug[:_MAX_SLUG], why))
    return Catalog(rates, tuple(skipped))
