"""Lava's meter documents (the REST wire format, read by ``proxy.billing``) → prices; what cannot
be priced exactly as Lava would is left out with its reason, never guessed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from proxy.billing import Meter
from proxy.prices.convert import catalog

D = Decimal


def doc(slug: str = "chat", *, rate_type: str = "fixed", tier_type: str | None = "tokens_1m",
        tiers: list[tuple[Any, str]] | None = None) -> dict[str, Any]:
    """A ``RestMeter`` as Lava sends it: the tier type on each tier (and, here, at the top)."""
    tiers = tiers if tiers is not None else [(0, "3.00")]
    out: dict[str, Any] = {"meter_id": f"mtr_{slug}", "meter_slug": slug, "name": slug.title(),
                           "rate_type": rate_type, "created_at": "2026-09-21T14:13:20Z",
                           "tiers": [{"start": s, "rate": r, "type": tier_type} for s, r in tiers]}
    if tier_type is not None:
        out["tier_type"] = tier_type
    return out


def meters(*docs: dict[str, Any]) -> list[Meter]:
    return [Meter.from_json(d) for d in docs]


def test_every_rate_and_tier_type_is_priced() -> None:
    got = catalog(meters(doc("a"), doc("b", rate_type="percentage", tiers=[(0, "20"), (1000, "10")]),
                         doc("c", tier_type="characters_1m"), doc("d", tier_type="minutes",
                                                                 tiers=[(0, "0.1"), (1.5, "0.05")]),
                         doc("e", tier_type="requests")))
    assert got.skipped == ()
    assert {s: (r.rate_type, r.tier_type) for s, r in got.rates.items()} == {
        "a": ("fixed", "tokens_1m"), "b": ("percentage", "tokens_1m"),
        "c": ("fixed", "characters_1m"), "d": ("fixed", "minutes"), "e": ("fixed", "requests")}
    d_bands = got.rates["d"].bands
    assert [(b.start, b.end, b.rate) for b in d_bands] == [(0, D("1.5"), D("0.1")),
                                                            (D("1.5"), None, D("0.05"))]


def test_the_tier_type_may_be_only_on_the_tiers() -> None:
    only_tiers = doc("a")
    del only_tiers["tier_type"]
    only_tiers["tiers"][0]["type"] = "characters_1m"
    assert catalog(meters(only_tiers)).rates["a"].tier_type == "characters_1m"


@pytest.mark.parametrize(("meter", "reason"), [
    (doc(rate_type="flat"), "rate_type 'flat' is not fixed or percentage"),
    (doc(tier_type="gigabytes"), "tier type 'gigabytes'"),
    (doc(tier_type=None), "tier type 'None'"),
    (doc(tiers=[]), "tiers must start at 0"),
    (doc(tiers=[(5, "1")]), "tiers must start at 0"),
    (doc(tiers=[(0, "1"), (10, "2"), (10, "3")]), "tier starts must ascend"),
    (doc(tiers=[(0, "-1")]), "finite number >= 0"),
    (doc(tiers=[(0, "NaN")]), "finite number >= 0"),
])
def test_what_cannot_be_priced_is_left_out_with_its_reason(meter: dict[str, Any], reason: str) -> None:
    got = catalog(meters(meter, doc("fine")))
    assert set(got.rates) == {"fine"}
    [(slug, why)] = got.skipped
    assert slug == "chat"
    assert reason in why


def test_a_slug_listed_twice_keeps_the_first() -> None:
    got = catalog(meters(doc("a", tiers=[(0, "1")]), doc("a", tiers=[(0, "2")])))
    assert got.rates["a"].bands[0].rate == 1


@pytest.mark.parametrize(("tiers", "reason"), [
    ([(0, "9e999999")], "rate is above 1,000,000"),
    ([(0, "1000000.0000000001")], "rate is above 1,000,000"),
    ([(0, "1"), ("1e16", "1")], "start is above 1,000,000,000,000,000"),
    ([(0, "0." + "1" * 29)], "more than 28 digits"),
    ([(0, "1e-25")], "24 decimal places"),
    ([(0, "Infinity")], "finite number >= 0"),
    ([(i, "1") for i in range(101)], "more than 100 tiers"),
])
def test_prices_beyond_any_real_meter_are_left_out_with_their_reason(
        tiers: list[tuple[Any, str]], reason: str) -> None:
    got = catalog([doc("absurd", tiers=tiers), doc("fine")])  # raw documents, as listed
    assert set(got.rates) == {"fine"}
    [(slug, why)] = got.skipped
    assert slug == "absurd"
    assert reason in why, why


def test_the_largest_real_prices_are_kept() -> None:
    tiers = [(i * 1000, "1000000") for i in range(99)] + [("1e15", "0.000000000000000000000001")]
    got = catalog([doc("big", tiers=tiers)])
    assert got.skipped == ()
    assert len(got.rates["big"].bands) == 100


def test_a_meter_that_cannot_be_read_skips_itself_not_the_listing() -> None:
    no_id = doc("no-id")
    del no_id["meter_id"]
    bad_tier = doc("bad-tier")
    bad_tier["tiers"][0]["rate"] = {"amount": 3}
    no_slug = doc("x")
    del no_slug["meter_slug"]
    huge = doc("huge", tiers=[(i, "1") for i in range(100_000)])
    got = catalog([no_id, "not an object", bad_tier, no_slug, huge, doc("fine")])
    assert set(got.rates) == {"fine"}
    reasons = dict(got.skipped)
    assert "meter.meter_id: expected a string" in reasons["no-id"]
    assert "tier.rate: expected a decimal string" in reasons["bad-tier"]
    assert "more than 100 tiers (100,000)" in reasons["huge"]
    assert [why for slug, why in got.skipped if slug == ""] == [
        "unreadable (expected a JSON object for meter, got str)",
        "unreadable (meter.meter_slug: expected a string)"]
