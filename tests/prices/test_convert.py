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
