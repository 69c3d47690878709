"""Per-customer and per-meter totals: sums of what was reported, Decimal money, bounded keys."""

from __future__ import annotations

import json
from decimal import Decimal

from proxy.metering import Totals
from proxy.metrics import OVERFLOW
from proxy.usage.base import Usage
from tests.records import T0, make


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
    assert cus1["total"]["charge_usd"] == "0.100900"
    assert set(cus1["meters"]) == {"tokens", "chars"}
    assert cus1["meters"]["chars"]["charge_usd"] == "0.000900"
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
    assert cus["meters"]["free"]["charge_usd"] == "0"
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
    assert total["charge_usd"] == "1.0"


def test_customers_beyond_the_bound_are_summed_as_overflow() -> None:
    t = Totals(max_customers=2, since=T0)
    for c in ("a", "b", "c", "d"):
        t.add(make(customer_id=c), None)
    doc = t.snapshot()
    assert set(doc["customers"]) == {"a", "b", OVERFLOW}
    assert doc["customers"][OVERFLOW]["total"]["requests"] == 2


def test_since_moves_back_to_the_oldest_record() -> None:
    t = Totals(since=T0 + 100)
    t.add(make(started_at=T0), None)
    assert t.since == T0
