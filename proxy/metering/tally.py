"""One running sum of usage (``Tally``): for one customer on one meter, and merged into per-customer,
per-meter and overall views at read time. Pure.

Money and seconds are ``Decimal`` and render as fixed-point strings, so nothing is lost to float
rounding. Sums run in ``SUMS``, a bounded decimal context: 40 digits (exact to the last of Lava's
10 decimal places up to 10^30 USD) with exponents bounded and overflow raised, so a sum can never
grow to a million digits or raise ``decimal.Overflow`` on a read (issue 24). A charge beyond
``MAX_CHARGE`` (no bounded price comes near: see ``prices.bounds``) is not summed but counted in
``unpriced``, like a charge that could not be computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from typing import Final

from ..money import usd
from ..record import RequestRecord

_ZERO: Final = Decimal(0)
SUMS: Final = Context(prec=40, rounding=ROUND_HALF_EVEN, Emax=999, Emin=-999,
                      traps=[InvalidOperation, DivisionByZero, Overflow])
#: Larger charges for one request are not believed (the largest a bounded price gives is ~10^17).
MAX_CHARGE: Final = Decimal(10) ** 24
_MIN_CHARGE: Final = -MAX_CHARGE


def _pos(value: int | None) -> int:
    """A reported count, or 0 for an absent (or nonsensical negative) one."""
    return value if value is not None and value > 0 else 0


def render_decimal(value: Decimal) -> str:
    # Fixed-point always: str(Decimal("1E-7")) would print exponent notation.
    return format(value, "f")


@dataclass(slots=True)
class Tally:
    """Running sums for one customer on one meter (and, merged, for any group of them)."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    characters: int = 0
    audio_seconds: Decimal = _ZERO
    charge_usd: Decimal | None = None
    #: Requests with usage but no charge (their meter has no price): not in ``charge_usd``.
    unpriced: int = 0
    partial: int = 0
    missing_usage: int = 0

    def add(self, rec: RequestRecord, charge: Decimal | None) -> None:
        u = rec.usage
        self.requests += 1
        # Absent is not zero, but a sum of what was reported is still the honest total; how much
        # went unreported is ``missing_usage``.
        self.input_tokens += _pos(u.input_tokens)
        self.output_tokens += _pos(u.output_tokens)
        self.cache_read_tokens += _pos(u.cache_read_tokens)
        self.cache_write_tokens += _pos(u.cache_write_tokens)
        self.reasoning_tokens += _pos(u.reasoning_tokens)
        self.characters += _pos(u.input_characters)
        if u.audio_seconds is not None and u.audio_seconds > 0:
            self.audio_seconds = SUMS.add(self.audio_seconds, u.audio_seconds)
        if charge is not None and _MIN_CHARGE < charge < MAX_CHARGE:
            self.charge_usd = charge if self.charge_usd is None else SUMS.add(self.charge_usd, charge)
        elif u.source not in ("missing", "none"):  # measured, but no price
            self.unpriced += 1
        if rec.partial:
            self.partial += 1
        if u.source == "missing":
            self.missing_usage += 1

    def merge(self, other: Tally) -> None:
        """Add ``other``'s sums to these. Written out: the per-meter view merges every customer's
        tallies, and a loop over ``fields()`` costs three times as much."""
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.characters += other.characters
        if other.audio_seconds:
            self.audio_seconds = SUMS.add(self.audio_seconds, other.audio_seconds)
        if other.charge_usd is not None:
            self.charge_usd = other.charge_usd if self.charge_usd is None else SUMS.add(
                self.charge_usd, other.charge_usd)
        self.unpriced += other.unpriced
        self.partial += other.partial
        self.missing_usage += other.missing_usage

    def copy(self) -> Tally:
        t = Tally()
        t.merge(self)
        return t

    def to_json(self) -> dict[str, object]:
        # Written out: ``/usage`` renders one per customer and meter on the loop it shares.
        charge = self.charge_usd
        return {
            "requests": self.requests, "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens, "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens, "characters": self.characters,
            "audio_seconds": render_decimal(self.audio_seconds),
            "charge_usd": None if charge is None else usd(charge),
            "unpriced": self.unpriced, "partial": self.partial, "missing_usage": self.missing_usage,
        }


def merged(tallies: dict[str, Tally]) -> Tally:
    """One tally summing ``tallies`` (one customer's meters, or every meter)."""
    total = Tally()
    for t in tallies.values():
        total.merge(t)
    return total


def fold(into: dict[str, Tally], tallies: dict[str, Tally]) -> None:
    """Add each meter's tally in ``tallies`` to ``into``'s tally for that meter."""
    for meter, t in tallies.items():
        mine = into.get(meter)
        if mine is None:
            into[meter] = t.copy()
        else:
            mine.merge(t)
