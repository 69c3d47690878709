"""Lava's meters → the ``MeterRate``s charges are computed with. Pure: no I/O, no clock.

A meter the sidecar cannot price exactly as Lava would (an unknown ``rate_type`` or tier type, tiers
that do not start at 0 or do not ascend, a rate or start that is not a finite number ≥ 0) or that
no real meter resembles (beyond ``bounds``: a rate over 10^6, more than 100 tiers, too many
digits), or that cannot even be read (a document missing its ``meter_id`` or another required
field) is left out with its reason: its requests are charged ``null``, never a guess. One bad
meter skips itself, never the listing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, cast, get_args

from ..billing import LavaError, Meter
from ..config import Tier, TierType
from ..metering.pricing import MeterRate, RateType
from .bounds import MAX_TIERS, tiers_problem

_TIER_TYPES: Final = frozenset(get_args(TierType))
_RATE_TYPES: Final = frozenset(get_args(RateType))
#: Same bound as a meter slug on a request (``identity.METER_SLUG_RE``).
_MAX_SLUG: Final = 128
#: Longest reason kept: a parse error quotes a key, never a value, but stays short regardless.
_MAX_REASON: Final = 200


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
    return tiers_problem([(t.start, t.rate) for t in m.tiers])


def to_rate(m: Meter) -> MeterRate:
    """``m`` as a price; only for a meter without a ``problem``."""
    return MeterRate.of(m.meter_slug, cast(TierType, m.tier_type), cast(RateType, m.rate_type),
                        (Tier(t.start, t.rate) for t in m.tiers))


def read(item: object) -> Meter | tuple[str, str]:
    """One entry of a listing (a ``Meter``, or the raw JSON of one) → the ``Meter``, or
    ``(slug, reason)`` when it cannot be read. The tier count is checked on the raw list, before
    100,000 tiers could be parsed one by one."""
    if isinstance(item, Meter):
        return item
    slug = _slug_of(item)
    if isinstance(item, Mapping):
        tiers = item.get("tiers")
        if isinstance(tiers, list) and len(tiers) > MAX_TIERS:
            return slug, f"more than {MAX_TIERS} tiers ({len(tiers):,})"
    try:
        return Meter.from_json(item)
    except LavaError as exc:
        return slug, f"unreadable ({exc.message[:_MAX_REASON]})"


def _slug_of(item: object) -> str:
    slug = item.get("meter_slug") if isinstance(item, Mapping) else None
    return slug[:_MAX_SLUG] if isinstance(slug, str) else ""


def catalog(items: Iterable[object]) -> Catalog:
    """Every priceable meter by slug; a slug listed twice keeps its first (Lava lists newest first).
    ``items`` are ``Meter``s or their raw JSON documents (``read``)."""
    rates: dict[str, MeterRate] = {}
    skipped: list[tuple[str, str]] = []
    for item in items:
        m = read(item)
        if isinstance(m, tuple):
            skipped.append(m)
            continue
        if m.meter_slug in rates:
            continue
        why = problem(m)
        if why is None:
            rates[m.meter_slug] = to_rate(m)
        else:
            skipped.append((m.meter_slug[:_MAX_SLUG], why))
    return Catalog(rates, tuple(skipped))
