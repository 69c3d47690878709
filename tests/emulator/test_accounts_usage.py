"""``/usage`` aggregation: daily buckets in the ``start`` offset's timezone, totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from proxy.emulator.accounts import RequestRow
from proxy.emulator.accounts.usage import daily, window_days

D = Decimal


def row(t: datetime, tokens: int = 10, cost: str = "0.01", charge: str = "0.02") -> RequestRow:
    return RequestRow(
        request_id=f"req_{t.timestamp()}", status="completed", customer_id="con_1",
        meter_id="mtr_1", provider="openai", provider_key_type="managed", model="m",
        endpoint="POST x", response_id=None, input_tokens=tokens, output_tokens=0,
        input_characters=0, output_characters=0, input_seconds=D(0), output_seconds=D(0),
        input_cost=D(cost), output_cost=D(0), charge=D(charge), rate_type="fixed", breakdown=(),
        metadata=(), timestamp=t.timestamp(), created_at=t.timestamp())


def test_days_follow_the_timezone_of_start() -> None:
    tz = timezone(timedelta(hours=-5))
    start = datetime(2026, 5, 1, tzinfo=tz)
    end = datetime(2026, 5, 3, tzinfo=tz)
    # 03:00 UTC on May 2 is still May 1 in UTC-5.
    rows = [row(datetime(2026, 5, 2, 3, tzinfo=UTC)), row(datetime(2026, 5, 2, 6, tzinfo=UTC))]
    out = daily(rows, start, end)
    items = out["items"]
    assert isinstance(items, list)
    assert [(i["date"], i["total_requests"]) for i in items] == [
        ("2026-05-01", 1), ("2026-05-02", 1)]
    assert items[0]["start"] == "2026-05-01T00:00:00-05:00"
    assert items[0]["end"] == "2026-05-02T00:00:00-05:00"
    assert out["totals"] == {"total_requests": 2, "total_usage_tokens": 20,
                             "total_cost": "0.0200000000", "total_charge": "0.0400000000"}


def test_an_empty_window_has_no_buckets() -> None:
    t = datetime(2026, 5, 1, tzinfo=UTC)
    assert daily([], t, t) == {"items": [], "totals": {
        "total_requests": 0, "total_usage_tokens": 0, "total_cost": "0.0000000000",
        "total_charge": "0.0000000000"}}


@given(st.lists(st.integers(0, 10 * 86400 - 1), max_size=30),
       st.integers(-12, 14))
def test_buckets_add_up_to_the_totals(offsets: list[int], hours: int) -> None:
    tz = timezone(timedelta(hours=hours))
    start = datetime(2026, 1, 1, tzinfo=tz)
    end = start + timedelta(days=10)
    rows = [row(start + timedelta(seconds=s), tokens=s % 7) for s in offsets]
    out = daily(rows, start, end)
    items = out["items"]
    assert isinstance(items, list)
    assert len(items) == len(window_days(start, end)) == 10
    totals = out["totals"]
    assert isinstance(totals, dict)
    assert sum(i["total_requests"] for i in items) == totals["total_requests"] == len(rows)
    assert sum(i["total_usage_tokens"] for i in items) == totals["total_usage_tokens"]
    assert sum(D(i["total_charge"]) for i in items) == D(str(totals["total_charge"]))


def test_a_wide_window_lists_only_the_days_with_data() -> None:
    start = datetime(2019, 1, 1, tzinfo=UTC)
    end = datetime(2026, 12, 31, tzinfo=UTC)
    rows = [row(datetime(2026, 5, 2, 6, tzinfo=UTC)), row(datetime(2021, 3, 4, tzinfo=UTC)),
            row(datetime(2026, 5, 2, 9, tzinfo=UTC))]
    out = daily(rows, start, end)
    items = out["items"]
    assert isinstance(items, list)
    assert [(i["date"], i["total_requests"]) for i in items] == [
        ("2021-03-04", 1), ("2026-05-02", 2)]
    assert out["totals"]["total_requests"] == 3  # type: ignore[index]
