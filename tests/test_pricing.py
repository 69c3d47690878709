"""Estimated charges: Lava's graduated tiers (lava-api.md 4.2), Decimal only, per customer per meter."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.config import MeterPrice, Tier, TierType
from proxy.metering import Pricing, quantity
from proxy.usage.base import Usage

D = Decimal
M = 1_000_000


def meter(slug: str, tier_type: TierType, *tiers: tuple[str, str]) -> MeterPrice:
    return MeterPrice(slug, tier_type, tuple(Tier(D(s), D(r)) for s, r in tiers))


GRADUATED = meter("tokens", "tokens_1m", ("0", "5"), ("1000000", "3"), ("10000000", "1"))


def tokens(n_in: int, n_out: int = 0) -> Usage:
    return Usage(input_tokens=n_in, output_tokens=n_out, source="provider")


def test_the_documented_example_five_million_tokens_cost_seventeen() -> None:
    # lava-api.md 4.2: 5M tokens over 0→5, 1M→3 (per 1M) = 5 + 12 = 17.
    p = Pricing([GRADUATED])
    assert p.charge("cus_1", "tokens", tokens(3 * M, 2 * M)) == D(17)


def test_tiers_accumulate_per_customer_and_meter() -> None:
    p = Pricing([GRADUATED, meter("other", "tokens_1m", ("0", "2"))])
    assert p.charge("cus_1", "tokens", tokens(M)) == D(5)
    assert p.charge("cus_1", "tokens", tokens(M)) == D(3)       # second million: next tier
    assert p.charge("cus_2", "tokens", tokens(M)) == D(5)       # another customer starts at 0
    assert p.charge("cus_1", "other", tokens(M)) == D(2)        # another meter starts at 0
    assert p.charge(None, "tokens", tokens(M)) == D(5)          # the merchant is its own account
    assert p.position("cus_1", "tokens") == D(2 * M)


def test_a_piece_spanning_three_tiers() -> None:
    p = Pricing([GRADUATED])
    p.charge("c", "tokens", tokens(500_000))
    # 0.5M at 5 + 9M at 3 + 0.5M at 1
    assert p.charge("c", "tokens", tokens(10 * M)) == D("2.5") + D(27) + D("0.5")


@pytest.mark.parametrize(("tier_type", "usage", "expected"), [
    ("tokens_1m", Usage(input_tokens=250_000, output_tokens=250_000, source="provider"), "1.5"),
    ("tokens_1m", Usage(output_tokens=1, source="estimated"), "0.000003"),
    ("characters_1m", Usage(input_characters=2 * M, source="provider"), "6"),
    ("minutes", Usage(audio_seconds=D("90"), source="provider"), "4.5"),
    ("requests", Usage(source="provider"), "3"),
])
def test_fixed_rate_units(tier_type: TierType, usage: Usage, expected: str) -> None:
    p = Pricing([meter("m", tier_type, ("0", "3"))])
    assert p.charge("c", "m", usage) == D(expected)


def test_minute_tier_starts_are_in_minutes() -> None:
    p = Pricing([meter("audio", "minutes", ("0", "0.10"), ("2", "0.05"))])
    # 3 minutes: 2 at 0.10 and 1 at 0.05.
    assert p.charge("c", "audio", Usage(audio_seconds=D(180), source="provider")) == D("0.25")


def test_nothing_is_charged_without_a_price_or_without_usage() -> None:
    p = Pricing([GRADUATED, meter("calls", "requests", ("0", "0.01"))])
    assert p.charge("c", None, tokens(5)) is None
    assert p.charge("c", "unpriced", tokens(5)) is None
    assert p.charge("c", "tokens", Usage(source="missing")) is None
    assert p.charge("c", "calls", Usage(source="missing")) is None  # absent is not zero
    # Usage was read, but not the quantity this meter prices.
    assert p.charge("c", "tokens", Usage(input_characters=10, source="provider")) is None
    assert p.position("c", "tokens") == 0
    assert Pricing([]).enabled is False
    assert p.priced("tokens")
    assert not p.priced("unpriced")
    assert not p.priced(None)


def test_quantity_never_negative() -> None:
    assert quantity("tokens_1m", Usage(input_tokens=-5, source="provider")) == 0
    assert quantity("minutes", Usage(audio_seconds=D(-1), source="provider")) == 0


tier_lists = st.lists(
    st.tuples(st.integers(1, 50 * M), st.decimals(min_value=0, max_value=100, places=4)),
    max_size=4, unique_by=lambda t: t[0],
).map(lambda extra: [("0", "7.5"), *((str(s), str(r)) for s, r in extra)])


@given(tiers=tier_lists, pieces=st.lists(st.integers(0, 20 * M), min_size=1, max_size=30),
       tier_type=st.sampled_from(["tokens_1m", "characters_1m", "requests"]))
def test_charging_in_pieces_equals_charging_at_once(
        tiers: list[tuple[str, str]], pieces: list[int], tier_type: TierType) -> None:
    m = meter("m", tier_type, *sorted(tiers, key=lambda t: int(t[0])))

    def usage(n: int) -> Usage:
        return Usage(input_tokens=n, input_characters=n, source="provider")

    split = Pricing([m])
    total = sum((split.charge("c", "m", usage(n)) or D(0) for n in pieces), D(0))
    whole = Pricing([m])
    if tier_type == "requests":  # one unit per request: the pieces are the requests
        at_once = sum((whole.charge("c", "m", usage(0)) or D(0) for _ in pieces), D(0))
    else:
        at_once = whole.charge("c", "m", usage(sum(pieces))) or D(0)
    assert total == at_once
    assert split.position("c", "m") == whole.position("c", "m")


@given(pieces=st.lists(st.decimals(min_value=0, max_value=3600, places=3), min_size=1, max_size=20))
def test_minutes_in_pieces_equal_at_once_within_lava_rounding(pieces: list[Decimal]) -> None:
    # Division by 60 is inexact in decimal, and each request's tier lines are rounded to Lava's
    # 10 digits (at most 2 lines here, 0.5e-10 each), as Lava bills them.
    m = meter("a", "minutes", ("0", "0.07"), ("30", "0.05"))
    split, whole = Pricing([m]), Pricing([m])
    total = sum((split.charge("c", "a", Usage(audio_seconds=s, source="provider")) or D(0)
                 for s in pieces), D(0))
    at_once = whole.charge("c", "a", Usage(audio_seconds=sum(pieces, D(0)), source="provider"))
    assert at_once is not None
    assert abs(total - at_once) <= D("1e-10") * (len(pieces) + 1)


def test_tier_positions_are_bounded_least_recently_charged_forgotten_first() -> None:
    p = Pricing([GRADUATED], max_accounts=2)
    p.charge("a", "tokens", tokens(M))
    p.charge("b", "tokens", tokens(M))
    p.charge("a", "tokens", tokens(1))         # a is now the most recent
    p.charge("c", "tokens", tokens(M))         # b is forgotten to make room
    assert (p.position("a", "tokens"), p.position("b", "tokens")) == (M + 1, 0)
    assert p.forgotten == 1
    # b starts again from the first tier: an estimate (Lava's bill is the truth).
    assert p.charge("b", "tokens", tokens(M)) == D(5)


def test_a_flat_meter_is_bounded_the_same_way() -> None:
    p = Pricing([meter("flat", "tokens_1m", ("0", "2"))], max_accounts=1)
    for customer in ("a", "b", "c"):
        assert p.charge(customer, "flat", tokens(M)) == D(2)
    assert (p.position("a", "flat"), p.position("c", "flat"), p.forgotten) == (0, M, 2)


def test_charges_run_in_a_bounded_context_whatever_the_callers_context() -> None:
    import decimal

    p = Pricing([meter("m", "tokens_1m", ("0", "3.1234567"), ("1000", "1.0000003"))])
    with decimal.localcontext(decimal.Context(prec=3)):  # a caller's odd context changes nothing
        assert p.charge("c", "m", tokens(1500)) == D("0.0036234569")
