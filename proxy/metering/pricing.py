"""Estimated charges from the configured meter prices: fixed rates over graduated tiers, Decimal only.

A local mirror of Lava's meter semantics (reference/lava-api.md 4.2): tiers accumulate per
customer per meter, so 5M tokens over tiers 0→5, 1M→3 (per 1M) cost 5 + 4*3 = 17. The numbers are
estimates for dashboards; Lava's own records are what is billed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from ..config import MeterPrice, Tier, TierType
from ..metrics import LabelCap
from ..usage.base import Usage

#: Distinct customers whose tier position is tracked; later ones share the ``__overflow__`` position.
MAX_ACCOUNTS: Final = 100_000

_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
#: Rates are per this many base units (tokens, characters, seconds, requests).
_PER: Final[dict[TierType, Decimal]] = {
    "tokens_1m": Decimal(1_000_000),
    "characters_1m": Decimal(1_000_000),
    "minutes": Decimal(60),
    "requests": _ONE,
}
#: Tier ``start`` values are in the tier type's own unit; minutes become seconds here.
_START_SCALE: Final[dict[TierType, Decimal]] = {
    "tokens_1m": _ONE, "characters_1m": _ONE, "minutes": Decimal(60), "requests": _ONE,
}


def quantity(tier_type: TierType, usage: Usage) -> Decimal | None:
    """How much of a meter's base unit one response used; ``None`` when usage does not say."""
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


@dataclass(frozen=True, slots=True)
class _Band:
    start: Decimal          # base units
    end: Decimal | None     # base units, None: open-ended
    rate: Decimal           # per ``per`` base units


def _bands(tiers: Iterable[Tier], scale: Decimal) -> tuple[_Band, ...]:
    ts = list(tiers)
    return tuple(
        _Band(t.start * scale, ts[i + 1].start * scale if i + 1 < len(ts) else None, t.rate)
        for i, t in enumerate(ts)
    )


def graduated_cost(bands: tuple[_Band, ...], per: Decimal, before: Decimal, amount: Decimal) -> Decimal:
    """The cost of units ``[before, before + amount)`` priced band by band.

    Each band's overlap is multiplied by its rate before the one division, so charging in pieces
    equals charging at once whenever ``per`` divides exactly (always, except ``minutes``).
    """
    lo, hi = before, before + amount
    cost = _ZERO
    for band in bands:
        a = max(lo, band.start)
        b = hi if band.end is None else min(hi, band.end)
        if b > a:
            cost += (b - a) * band.rate
    return cost / per


class Pricing:
    """Charges each response against its meter's tiers; remembers each customer's tier position."""

    __slots__ = ("_accounts", "_meters", "_used")

    def __init__(self, meters: Iterable[MeterPrice], *, max_accounts: int = MAX_ACCOUNTS) -> None:
        self._meters: dict[str, tuple[TierType, tuple[_Band, ...]]] = {
            m.slug: (m.tier_type, _bands(m.tiers, _START_SCALE[m.tier_type])) for m in meters
        }
        self._used: dict[tuple[str, str], Decimal] = {}
        self._accounts = LabelCap(max_accounts)

    @property
    def enabled(self) -> bool:
        return bool(self._meters)

    def priced(self, meter: str | None) -> bool:
        return meter is not None and meter in self._meters

    def charge(self, customer: str | None, meter: str | None, usage: Usage) -> Decimal | None:
        """The estimated charge for one response, advancing the customer's tier position.

        ``None`` when the meter has no configured price or usage is missing (absent is not zero:
        an unmeasured response is not a free one).
        """
        if meter is None or usage.source == "missing":
            return None
        price = self._meters.get(meter)
        if price is None:
            return None
        tier_type, bands = price
        amount = quantity(tier_type, usage)
        if amount is None:
            return None
        key = (self._accounts.admit(customer or ""), meter)
        before = self._used.get(key, _ZERO)
        self._used[key] = before + amount
        return graduated_cost(bands, _PER[tier_type], before, amount)

    def position(self, customer: str | None, meter: str) -> Decimal:
        """Base units charged so far for this customer on this meter."""
        return self._used.get((customer or "", meter), _ZERO)
