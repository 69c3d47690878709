"""``GET /usage``, pure: request records → daily buckets in the timezone of the ``start`` offset,
plus totals (lava-api.md 4.6)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from .charging import money
from .records import RequestRow
from .views import JsonObj

#: Widest window one call may ask for: bounds the response whatever the query says.
MAX_DAYS = 400


@dataclass(slots=True)
class _Sums:
    requests: int = 0
    tokens: int = 0
    cost: Decimal = field(default_factory=Decimal)
    charge: Decimal = field(default_factory=Decimal)

    def add(self, row: RequestRow) -> None:
        self.requests += 1
        self.tokens += row.total_tokens
        self.cost += row.cost
        self.charge += row.charge

    def json(self) -> JsonObj:
        return {"total_requests": self.requests, "total_usage_tokens": self.tokens,
                "total_cost": money(self.cost), "total_charge": money(self.charge)}


def window_days(start: datetime, end: datetime) -> list[date]:
    """The calendar days, in ``start``'s timezone, that ``[start, end)`` touches."""
    tz = start.tzinfo or UTC
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def daily(rows: Iterable[RequestRow], start: datetime, end: datetime) -> JsonObj:
    """Buckets for every day of the window (empty days included, so charts need no gap filling).

    ``rows`` must already be limited to ``[start, end)`` and the caller's filters.
    """
    tz = start.tzinfo or UTC
    days = window_days(start, end) if end > start else []
    sums = {d: _Sums() for d in days}
    totals = _Sums()
    for row in rows:
        day = datetime.fromtimestamp(row.timestamp, tz).date()
        bucket = sums.get(day)
        if bucket is None:
            continue
        bucket.add(row)
        totals.add(row)
    items: list[JsonObj] = []
    for d in days:
        lo = datetime.combine(d, time(0), tzinfo=tz)
        items.append({"date": d.isoformat(), "start": lo.isoformat(),
                      "end": (lo + timedelta(days=1)).isoformat(), **sums[d].json()})
    return {"items": items, "totals": totals.json()}
