"""Per-customer and per-meter usage totals since start (or since the oldest replayed log line).

Served as JSON by the admin ``/usage`` endpoint. Money and seconds are ``Decimal`` and render as
strings, so nothing is lost to float rounding. ``charge_usd`` is the sum of the charges that could
be computed, ``null`` while none could (no price for the meter: unknown, not free); ``unpriced``
counts the measured requests left out of it. Requests the sidecar refused itself are not
counted: they never reached a provider and consumed nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from ..metrics import MAX_METERS, LabelCap
from ..record import RequestRecord

#: Distinct customers kept apart; later ones are summed under ``__overflow__`` (meters: MAX_METERS).
MAX_CUSTOMERS: Final = 100_000

_ZERO: Final = Decimal(0)


def _pos(value: int | None) -> int:
    """A reported count, or 0 for an absent (or nonsensical negative) one."""
    return value if value is not None and value > 0 else 0


def _dec(value: Decimal) -> str:
    # Fixed-point always: str(Decimal("1E-7")) would print exponent notation.
    return format(value, "f")


@dataclass(slots=True)
class Tally:
    """Running sums for one customer, one meter, or one customer on one meter."""

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
            self.audio_seconds += u.audio_seconds
        if charge is not None:
            self.charge_usd = charge if self.charge_usd is None else self.charge_usd + charge
        elif u.source != "missing":
            self.unpriced += 1
        if rec.partial:
            self.partial += 1
        if u.source == "missing":
            self.missing_usage += 1

    def merge(self, other: Tally) -> None:
        for f in fields(self):
            if f.name != "charge_usd":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        if other.charge_usd is not None:
            self.charge_usd = other.charge_usd if self.charge_usd is None else (
                self.charge_usd + other.charge_usd)

    def to_json(self) -> dict[str, object]:
        return {
            f.name: _dec(v) if isinstance(v := getattr(self, f.name), Decimal) else v
            for f in fields(self)
        }


class Totals:
    """Sums by customer → meter, and by meter. Mutated only on the event loop (by the recorder)."""

    __slots__ = ("_customer_cap", "_customers", "_meter_cap", "_meters", "records", "replay", "since")

    def __init__(self, *, max_customers: int = MAX_CUSTOMERS, max_meters: int = MAX_METERS,
                 since: float | None = None) -> None:
        self._customers: dict[str, dict[str, Tally]] = {}
        self._meters: dict[str, Tally] = {}
        self._customer_cap = LabelCap(max_customers)
        self._meter_cap = LabelCap(max_meters)
        self.records = 0
        self.since = time.time() if since is None else since
        #: Usage-log replay at start: off | pending | running | done (shown in ``/usage``).
        self.replay = "off"

    def add(self, rec: RequestRecord, charge: Decimal | None) -> None:
        if rec.outcome == "rejected":
            return
        self.records += 1
        self.since = min(self.since, rec.started_at)
        customer = self._customer_cap.admit(rec.customer_id or "")
        meter = self._meter_cap.admit(rec.meter_slug or "")
        by_meter = self._customers.get(customer)
        if by_meter is None:
            by_meter = self._customers[customer] = {}
        tally = by_meter.get(meter)
        if tally is None:
            tally = by_meter[meter] = Tally()
        tally.add(rec, charge)
        mt = self._meters.get(meter)
        if mt is None:
            mt = self._meters[meter] = Tally()
        mt.add(rec, charge)

    def snapshot(self, customer: str | None = None) -> dict[str, object]:
        """The ``/usage`` document; ``customer`` keeps only that customer (``""``: the merchant)."""
        wanted = self._customers if customer is None else {
            k: v for k, v in self._customers.items() if k == customer}
        customers: dict[str, object] = {}
        for cid, by_meter in wanted.items():
            total = Tally()
            for t in by_meter.values():
                total.merge(t)
            customers[cid] = {"total": total.to_json(),
                              "meters": {m: t.to_json() for m, t in by_meter.items()}}
        doc: dict[str, object] = {
            "since": datetime.fromtimestamp(self.since, UTC).isoformat(timespec="seconds"),
            "records": self.records,
            "replay": self.replay,
            "customers": customers,
        }
        if customer is None:
            doc["meters"] = {m: t.to_json() for m, t in self._meters.items()}
        return doc
