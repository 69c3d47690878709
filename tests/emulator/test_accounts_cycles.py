"""Billing cycles: calendar arithmetic and what a renewal does to cycle and bundle credit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.emulator.accounts import Interval, Plan, Rollover, Subscription
from proxy.emulator.accounts.cycles import advance, first_cycle, renew

D = Decimal


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).date().isoformat()


def test_monthly_cycles_clamp_to_the_end_of_short_months_and_come_back() -> None:
    jan31 = ts(2026, 1, 31, 12)
    assert [day(advance(jan31, "month", n)) for n in range(4)] == [
        "2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
    assert day(advance(ts(2024, 2, 29), "year", 1)) == "2025-02-28"
    assert day(advance(ts(2026, 12, 15), "month", 1)) == "2027-01-15"
    assert advance(jan31, "week", 2) - jan31 == 14 * 86400


@given(st.sampled_from(["day", "week", "month", "year"]), st.integers(0, 200))
def test_cycles_are_strictly_increasing(interval: Interval, n: int) -> None:
    anchor = ts(2026, 1, 31)
    assert advance(anchor, interval, n) < advance(anchor, interval, n + 1)


def plan(rollover: Rollover = "none", bundle_rollover: Rollover = "none") -> Plan:
    return Plan("plan_1", "Pro", D(10), D(10), "month", rollover, bundle_rollover, None, (),
                0.0)


def sub(start: float, cycle: str, bundle: str) -> Subscription:
    s, e = first_cycle(start, "month")
    return Subscription("as_1", "con_1", "plan_1", "active", None, start, None, s, e,
                        D(cycle), D(bundle))


@pytest.mark.parametrize(("rollover", "bundle_rollover", "cycle", "bundle"), [
    ("none", "none", D(10), D(0)),
    ("full", "none", D(10) + D(3), D(0)),
    ("none", "full", D(10), D(7)),
    ("full", "full", D(13), D(7)),
])
def test_renewal_refills_included_credit_and_applies_rollover(
        rollover: Rollover, bundle_rollover: Rollover, cycle: Decimal, bundle: Decimal) -> None:
    start = ts(2026, 3, 1)
    s = renew(sub(start, "3", "7"), plan(rollover, bundle_rollover), ts(2026, 4, 2))
    assert (s.cycle_remaining, s.bundle_remaining) == (cycle, bundle)
    assert (day(s.cycle_start_at), day(s.cycle_end_at)) == ("2026-04-01", "2026-05-01")


def test_before_the_cycle_ends_nothing_changes() -> None:
    s = sub(ts(2026, 3, 1), "3", "7")
    assert renew(s, plan(), ts(2026, 3, 31, 23)) is s


def test_several_missed_cycles_roll_over_each_time() -> None:
    s = renew(sub(ts(2026, 1, 1), "3", "0"), plan("full"), ts(2026, 4, 15))
    assert s.cycle_remaining == D(3) + 3 * D(10)
    assert day(s.cycle_start_at) == "2026-04-01"


def test_years_of_missed_daily_cycles_jump_straight_to_today() -> None:
    p = Plan("plan_1", "Daily", D(1), D(1), "day", "full", "full", None, (), 0.0)
    start = ts(2020, 1, 1)
    s0 = Subscription("as_1", "con_1", "plan_1", "active", None, start, None,
                      *first_cycle(start, "day"), D(0), D(0))
    s = renew(s0, p, ts(2026, 6, 15, 10))
    assert day(s.cycle_start_at) == "2026-06-15"
    assert s.cycle_start_at <= ts(2026, 6, 15, 10) < s.cycle_end_at
