"""Billing cycles, pure: where a subscription's cycles begin and end, and what a cycle boundary
does to its credit (included credit refilled; rollover per the plan)."""

from __future__ import annotations

import calendar
import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from .records import Interval, Plan, Subscription

#: Renewals applied in one catch-up; beyond that (a daily plan left alone for years) the
#: subscription jumps straight to the current cycle with one refill.
_MAX_CATCH_UP = 1000


def advance(anchor: float, interval: Interval, n: int) -> float:
    """The start of cycle ``n`` of a subscription that started at ``anchor`` (cycle 0).

    Months and years count from the anchor, clamping the day: a Jan 31 start renews on Feb 28
    (or 29), then Mar 31.
    """
    start = datetime.fromtimestamp(anchor, UTC)
    if interval == "day":
        return (start + timedelta(days=n)).timestamp()
    if interval == "week":
        return (start + timedelta(weeks=n)).timestamp()
    months = n * (12 if interval == "year" else 1)
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day).timestamp()


def first_cycle(started_at: float, interval: Interval) -> tuple[float, float]:
    return started_at, advance(started_at, interval, 1)


def renew(sub: Subscription, plan: Plan, now: float) -> Subscription:
    """The subscription as of ``now``: every cycle boundary passed since it was last seen applied.

    At a boundary the included credit is granted again; unused cycle credit carries over only
    with ``rollover_type: full``; bundle credit is dropped only with ``bundle_rollover_type: none``.
    """
    if sub.status != "active" or now < sub.cycle_end_at:
        return sub
    cycle, bundle = sub.cycle_remaining, sub.bundle_remaining
    index = _jump(sub.started_at, plan.billing_interval, sub.cycle_start_at)[0]
    start, end = sub.cycle_start_at, sub.cycle_end_at
    steps = 0
    while now >= end:
        steps += 1
        if steps > _MAX_CATCH_UP:
            index, start, end = _jump(sub.started_at, plan.billing_interval, now)
            cycle = plan.included_credit
            break
        index += 1
        start, end = end, advance(sub.started_at, plan.billing_interval, index + 1)
        cycle = plan.included_credit + (max(cycle, Decimal(0))
                                        if plan.rollover_type == "full" else Decimal(0))
        if plan.bundle_rollover_type == "none":
            bundle = Decimal(0)
    return dataclasses.replace(sub, cycle_start_at=start, cycle_end_at=end,
                               cycle_remaining=cycle, bundle_remaining=bundle)


def _jump(anchor: float, interval: Interval, now: float) -> tuple[int, float, float]:
    """(n, start, end) of the cycle holding ``now``: binary search, exact for calendar months."""
    lo, hi = 0, 1
    while advance(anchor, interval, hi) <= now:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if advance(anchor, interval, mid) <= now:
            lo = mid
        else:
            hi = mid
    return lo, advance(anchor, interval, lo), advance(anchor, interval, lo + 1)
