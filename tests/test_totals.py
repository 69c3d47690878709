"""Per-customer and per-meter totals: sums of what was reported, Decimal money, bounded keys; the
least recently seen customers evicted into an aggregate that keeps every total exact; pages that
walk the kept customers once; per-meter totals derived in slices, exact while traffic goes on."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from proxy.metering import MeterViews, Totals
from proxy.metering.tally import Tally, merged
from proxy.record import RequestRecord
from proxy.usage.base import Usage
from tests.records import T0, make, records


def test_sums_by_customer_and_meter() -> None:
    t = Totals(since=T0)
    t.add(make(), Decimal("0.10"))
    t.add(make(meter_slug="chars", usage=Usage(input_characters=300, source="provider")),
          Decimal("0.000900"))
    t.add(make(customer_id="cus_2", partial=True,
               usage=Usage(input_tokens=5, output_tokens=7, reasoning_tokens=3, cache_read_tokens=2,
                           source="provider")), None)
    doc = t.snapshot()
    json.dumps(doc)  # the /usage body
    cus1 = doc["customers"]["cus_1"]
    assert cus1["total"]["requests"] == 2
    assert cus1["total"]["input_tokens"] == 11
    assert cus1["total"]["characters"] == 300
    assert cus1["total"]["charge_usd"] == "0.1009"
    assert set(cus1["meters"]) == {"tokens", "chars"}
    assert cus1["meters"]["chars"]["charge_usd"] == "0.0009"
    cus2 = doc["customers"]["cus_2"]["total"]
    assert (cus2["output_tokens"], cus2["reasoning_tokens"], cus2["cache_read_tokens"]) == (7, 3, 2)
    assert cus2["partial"] == 1
    assert (cus2["charge_usd"], cus2["unpriced"]) == (None, 1)  # no price: unknown, not 0
    assert cus1["total"]["unpriced"] == 0
    tokens = doc["meters"]["tokens"]
    assert tokens["requests"] == 2
    assert tokens["output_tokens"] == 4 + 7
    assert doc["records"] == 3


def test_a_charge_is_the_sum_of_what_could_be_priced_and_says_what_could_not() -> None:
    t = Totals(since=T0)
    t.add(make(meter_slug="free"), Decimal(0))         # priced, at zero: "0", not null
    t.add(make(meter_slug="unknown"), None)            # no price for this meter
    t.add(make(meter_slug="tokens"), Decimal("0.25"))
    doc = t.snapshot()
    cus = doc["customers"]["cus_1"]
    assert (cus["total"]["charge_usd"], cus["total"]["unpriced"]) == ("0.25", 1)
    assert cus["meters"]["free"]["charge_usd"] == "0.00"
    assert (cus["meters"]["unknown"]["charge_usd"], cus["meters"]["unknown"]["unpriced"]) == (None, 1)
    assert doc["meters"]["unknown"]["charge_usd"] is None


def test_missing_usage_is_counted_not_zeroed() -> None:
    t = Totals(since=T0)
    t.add(make(usage=Usage(), outcome="upstream_error", status=502), None)
    total = t.snapshot("cus_1")["customers"]["cus_1"]["total"]
    assert total["requests"] == 1
    assert total["missing_usage"] == 1


def test_refused_requests_consumed_nothing() -> None:
    t = Totals(since=T0)
    t.add(make(outcome="rejected", status=404, error_code="route_not_found", usage=Usage()), None)
    assert t.snapshot() == {"since": "2026-09-21T14:13:20+00:00", "records": 0, "replay": "off",
                            "customers": {}, "meters": {}}


def test_merchant_billed_requests_have_their_own_bucket() -> None:
    t = Totals(since=T0)
    t.add(make(customer_id=None, meter_slug=None, identity_via="merchant"), None)
    doc = t.snapshot("")
    assert list(doc["customers"]) == [""]
    assert "meters" not in doc  # the filtered view is about the customer only


def test_audio_seconds_and_charges_stay_exact() -> None:
    t = Totals(since=T0)
    for _ in range(10):
        t.add(make(usage=Usage(audio_seconds=Decimal("0.1"), source="provider")), Decimal("0.1"))
    total = t.snapshot()["customers"]["cus_1"]["total"]
    assert total["audio_seconds"] == "1.0"  # 0.1 summed ten times, no float drift
    assert total["charge_usd"] == "1.00"


def test_since_moves_back_to_the_oldest_record() -> None:
    t = Totals(since=T0 + 100)
    t.add(make(started_at=T0), None)
    assert t.since == T0


def test_the_least_recently_seen_customer_is_evicted_and_its_sums_kept_in_the_aggregate() -> None:
    t = Totals(max_customers=2, since=T0)
    t.add(make(customer_id="a"), Decimal("1"))
    t.add(make(customer_id="b", meter_slug="chars"), Decimal("2"))
    t.add(make(customer_id="a"), Decimal("4"))  # a seen again: b is now the least recent
    t.add(make(customer_id="c"), Decimal("8"))
    assert (t.customer("b"), t.evicted_customers, len(t)) == (None, 1, 2)
    assert t.evicted["chars"].charge_usd == 2
    doc = t.snapshot()
    assert set(doc["customers"]) == {"a", "c"}
    assert doc["meters"]["tokens"]["charge_usd"] == "13.00"  # a twice and c
    assert doc["meters"]["chars"]["charge_usd"] == "2.00"    # b, evicted, still counted
    t.add(make(customer_id="b", meter_slug="chars"), Decimal("16"))  # back: a fresh entry
    assert t.snapshot("b")["customers"]["b"]["total"]["charge_usd"] == "16.00"
    assert t.evicted_customers == 2  # a went to make room
    assert t.snapshot()["meters"]["chars"]["charge_usd"] == "18.00"


def naive(recs: list[tuple[RequestRecord, Decimal | None]]) -> dict[str, Any]:
    """Per-meter totals summed the plain way, one record at a time."""
    meters: dict[str, Tally] = {}
    for rec, charge in recs:
        if rec.outcome != "rejected":
            meters.setdefault(rec.meter_slug or "", Tally()).add(rec, charge)
    return {m: t.to_json() for m, t in meters.items()}


charges = st.none() | st.decimals(min_value=0, max_value=1000, places=10)


@given(recs=st.lists(st.tuples(records(customers=tuple(f"c{i}" for i in range(12))), charges),
                     max_size=80),
       cap=st.integers(1, 6))
def test_per_meter_totals_stay_exact_whatever_is_evicted(
        recs: list[tuple[RequestRecord, Decimal | None]], cap: int) -> None:
    t = Totals(max_customers=cap, since=T0)
    for rec, charge in recs:
        t.add(rec, charge)
    assert len(t) <= cap
    assert t.snapshot()["meters"] == naive(recs)


def walk_pages(t: Totals, limit: int, between: Any = None) -> list[str]:
    seen: list[str] = []
    after, more = 0, True
    while more:
        page = t.page(after, limit)
        seen += [cid for cid, _ in page.customers]
        after, more = page.last, page.more
        if between is not None:
            between()
    return seen


def test_pages_walk_every_kept_customer_once_in_admission_order() -> None:
    t = Totals(max_customers=1000, since=T0)
    for i in range(250):
        t.add(make(customer_id=f"c{i:03d}"), None)
    assert walk_pages(t, 7) == [f"c{i:03d}" for i in range(250)]
    empty = Totals(since=T0).page(0, 10)
    assert (empty.customers, empty.more) == ([], False)


def test_a_page_walk_under_traffic_sees_each_customer_that_stays_exactly_once() -> None:
    t = Totals(max_customers=300, since=T0)
    for i in range(300):
        t.add(make(customer_id=f"old{i}"), None)
    steady = {f"old{i}" for i in range(0, 300, 2)}
    fresh = iter(range(10**6))

    def traffic() -> None:
        # The steady half stays recent (never evicted); newcomers evict the other half.
        for cid in steady:
            t.add(make(customer_id=cid), None)
        for _ in range(10):  # fewer newcomers than a page: the walk catches up with them
            t.add(make(customer_id=f"new{next(fresh)}"), None)

    seen = walk_pages(t, 25, traffic)
    assert len(seen) == len(set(seen))
    assert steady <= set(seen)
    assert t.evicted_customers > 0


def test_tombstones_are_swept_and_paging_still_works() -> None:
    t = Totals(max_customers=100, since=T0)
    for i in range(5000):  # 4,900 evictions: the admission lists are swept several times
        t.add(make(customer_id=f"c{i}"), None)
    assert walk_pages(t, 33) == [f"c{i}" for i in range(4900, 5000)]
    assert t.evicted_customers == 4900


async def test_a_sliced_walk_under_traffic_equals_the_totals_when_it_ends() -> None:
    """Traffic between every slice: records for customers already counted and not yet counted,
    newcomers, evictions (of counted and uncounted customers), re-admissions."""
    t = Totals(max_customers=50, since=T0)
    recs: list[tuple[RequestRecord, Decimal | None]] = []

    def add(cid: str, meter: str, charge: str) -> None:
        rec = make(customer_id=cid, meter_slug=meter)
        recs.append((rec, Decimal(charge)))
        t.add(rec, Decimal(charge))

    for i in range(50):
        add(f"c{i}", f"m{i % 3}", "0.001")
    views = MeterViews(t, slice_size=4, max_age=0)
    stop = asyncio.Event()

    async def traffic() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            add(f"c{n % 70}", f"m{n % 4}", f"0.0{n % 7}")
            await asyncio.sleep(0)

    runner = asyncio.create_task(traffic())
    try:
        for _ in range(5):
            view = await views.get()
            assert t.walk is None
            upto = [r for r in recs if r[0].outcome != "rejected"][:view.records]
            assert {m: x.to_json() for m, x in view.meters.items()} == naive(upto)
            assert view.total.to_json() == merged(view.meters).to_json()
    finally:
        stop.set()
        await runner
    assert t.evicted_customers > 0


async def test_readers_share_one_walk_and_a_recent_result() -> None:
    t = Totals(since=T0)
    for i in range(30):
        t.add(make(customer_id=f"c{i}"), Decimal("0.5"))
    views = MeterViews(t, slice_size=2, max_age=60)
    first, second = await asyncio.gather(views.get(), views.get())
    assert first is second
    assert t.walks == 1
    t.add(make(customer_id="late"), Decimal("1"))
    assert await views.get() is first  # within max_age: served again
    assert first.total.charge_usd == 15


def test_absurd_charges_are_not_summed_and_sums_never_overflow() -> None:
    t = Totals(since=T0)
    t.add(make(), Decimal("9e999999"))           # beyond any bounded price: not believed
    t.add(make(), Decimal("-9e999999"))
    for _ in range(3):
        t.add(make(), Decimal("9.99e23"))         # the largest believed, summed without overflow
    total = t.snapshot()["customers"]["cus_1"]["total"]
    assert total["unpriced"] == 2
    assert total["charge_usd"] == "2997000000000000000000000.00"
