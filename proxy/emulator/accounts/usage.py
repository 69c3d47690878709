"""``GET /usage``, pure: request records → daily buckets in the timezone of the ``start`` offset,
plus totals (lava-api.md 4.6).

Lava documents no limit on the window, so none is imposed: a window of up to ``FILLED_DAYS``
days lists every day (empty ones included, so charts need no gap filling); a wider one lists the
days that have data. Either way the answer is bounded by the records kept, not by the query."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from .charging import money
from .records import RequestRow
from .views import JsonObj

#: Widest window whose empty days are listed too; wider windows list only days with data.
FILLED_DAYS = 400


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


def _filled(start: datetime, end: datetime) -> bool:
    """Whether the window is narrow enough to list its empty days as well."""
    try:
        return end - start <= timedelta(days=FILLED_DAYS)
    except OverflowError:
        return False


def daily(rows: Iterable[RequestRow], start: datetime, end: datetime) -> JsonObj:
    """Buckets per day of the window, oldest first, and totals (``FILLED_DAYS`` says which days).

    ``rows`` must already be limited to ``[start, end)`` and the caller's filters.
    """
    tz = start.tzinfo or UTC
    filled = end > start and _filled(start, end)
    sums = {d: _Sums() for d in window_days(start, end)} if filled else {}
    totals = _Sums()
    for row in rows:
        if end <= start:
            break
        day = datetime.fromtimestamp(row.timestamp, tz).date()
        bucket = sums.get(day)
        if bucket is None:
            if filled:
                continue
            bucket = sums[day] = _Sums()
        bucket.add(row)
        totals.add(row)
    items: list[JsonObj] = []
    for d in sorted(sums):
        lo = datetime.combine(d, time(0), tzinfo=tz)
        items.append({"date": d.isoformat(), "start": lo.isoformat(),
                      "end": (lo + timedelta(days=1)).isoformat(), **sums[d].json()})
    return {"items": items, "totals": totals.json()}
