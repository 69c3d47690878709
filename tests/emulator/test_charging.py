"""Charging arithmetic: graduated tiers, fixed and percentage rates, units per tier type, credit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.emulator.accounts import Meter, RateType, Tier, TierType
from proxy.emulator.accounts.charging import (
    DEFAULT_PRICE,
    Counts,
    base_cost,
    charge,
    draw,
    money,
    price_for,
    split,
)

D = Decimal


def meter(tiers: list[tuple[int, str]], *, rate_type: RateType = "fixed",
          tier_type: TierType = "tokens_1m") -> Meter:
    return Meter("mtr_1", "m", "m", rate_type, tier_type,
                 tuple(Tier(D(s), D(r)) for s, r in tiers), 0.0)


GRADUATED = meter([(0, "5"), (1_000_000, "3"), (10_000_000, "1")])


def test_lavas_documented_example_five_million_tokens_cost_seventeen() -> None:
    amount, used, lines = charge(GRADUATED, D(0), Counts(input_tokens=3_000_000,
                                                         output_tokens=2_000_000), D(0))
    assert amount == D(17)
    assert used == D(5_000_000)
    assert [(ln.tier_start, ln.units, ln.amount) for ln in lines] == [
        (D(0), D(1_000_000), D(5)), (D(1_000_000), D(4_000_000), D(12))]


def test_graduated_tiers_continue_from_what_the_customer_already_used() -> None:
    # 9.5M already used: 0.5M at 3/M then 1.5M at 1/M.
    amount, _, _ = charge(GRADUATED, D(9_500_000), Counts(input_tokens=2_000_000), D(0))
    assert amount == D("1.5") + D("1.5")


@given(st.lists(st.integers(min_value=0, max_value=4_000_000), min_size=1, max_size=8))
def test_charging_in_pieces_equals_charging_the_sum(pieces: list[int]) -> None:
    already, total = D(0), D(0)
    for n in pieces:
        amount, used, _ = charge(GRADUATED, already, Counts(input_tokens=n), D(0))
        already += used
        total += amount
    at_once, _, _ = charge(GRADUATED, D(0), Counts(input_tokens=sum(pieces)), D(0))
    assert total == at_once


@given(st.integers(0, 50_000_000), st.integers(0, 50_000_000))
def test_split_covers_exactly_the_units_asked_for(already: int, n: int) -> None:
    parts = split(GRADUATED.tiers, D(already), D(n))
    assert sum((u for _, u in parts), D(0)) == n
    assert all(u > 0 for _, u in parts)


def test_percentage_meter_charges_a_share_of_the_provider_cost() -> None:
    m = meter([(0, "20")], rate_type="percentage")
    amount, _, lines = charge(m, D(0), Counts(input_tokens=100), D("0.5"))
    assert amount == D("0.1")
    assert lines[0].amount == D("0.1")


def test_percentage_meter_splits_the_cost_across_tiers_by_units() -> None:
    m = meter([(0, "10"), (100, "50")], rate_type="percentage")
    # 200 units cost 2.00: the first 100 units carry 1.00 at 10 %, the next 100 1.00 at 50 %.
    amount, _, _ = charge(m, D(0), Counts(input_tokens=200), D(2))
    assert amount == D("0.1") + D("0.5")


@pytest.mark.parametrize(("tier_type", "counts", "expected"), [
    ("characters_1m", Counts(input_characters=500_000, output_characters=500_000), D(2)),
    ("minutes", Counts(input_seconds=D(90)), D(3)),          # 1.5 minutes x 2
    ("requests", Counts(input_tokens=999), D(2)),            # one request x 2
    ("tokens_1m", Counts(input_tokens=250_000, output_tokens=250_000), D(1)),
])
def test_fixed_rate_per_unit_of_each_tier_type(tier_type: TierType, counts: Counts,
                                                expected: Decimal) -> None:
    amount, _, _ = charge(meter([(0, "2")], tier_type=tier_type), D(0), counts, D(0))
    assert amount == expected


def test_credit_is_drawn_from_the_cycle_first_then_bundles_and_never_below_zero() -> None:
    assert draw(D(5), D(10), D(3)) == (D(2), D(10))
    assert draw(D(5), D(10), D(8)) == (D(0), D(7))
    assert draw(D(5), D(10), D(40)) == (D(0), D(0))


def test_prices_match_the_longest_model_prefix() -> None:
    nano = price_for("gpt-5-nano-2025-08-07")
    assert nano == price_for("gpt-5-nano")
    assert nano != price_for("gpt-5")
    assert price_for("some-unknown-model") == DEFAULT_PRICE
    assert price_for(None) == DEFAULT_PRICE


def test_base_cost_uses_the_price_per_million_tokens() -> None:
    p = price_for("gpt-4o-mini")
    cin, cout = base_cost("gpt-4o-mini", Counts(input_tokens=1_000_000, output_tokens=2_000_000))
    assert (cin, cout) == (p.input_per_1m, 2 * p.output_per_1m)


def test_money_has_ten_fractional_digits() -> None:
    assert money(D("0.06391")) == "0.0639100000"
    assert money(D(17)) == "17.0000000000"
