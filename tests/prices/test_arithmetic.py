"""The sidecar's charge equals the local Lava's, digit for digit: the same meters, the same
requests in the same order, priced by ``metering.Pricing`` and by the emulator's own billing
arithmetic (``emulator.accounts.charging``); fixed and percentage, every tier type."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.config import Tier
from proxy.emulator.accounts import charging
from proxy.emulator.accounts import records as lava
from proxy.metering import Pricing
from proxy.metering.pricing import MeterRate, RateType
from proxy.usage.base import Usage

D = Decimal
TIER_TYPES = ("tokens_1m", "characters_1m", "minutes", "requests")


def lava_meter(rate_type: str, tier_type: str, tiers: list[tuple[Decimal, Decimal]]) -> lava.Meter:
    return lava.Meter("mtr_1", "m", "M", cast(lava.RateType, rate_type),
                      cast(lava.TierType, tier_type),
                      tuple(lava.Tier(s, r) for s, r in tiers), 0.0)


def priced(rate_type: str, tier_type: str, tiers: list[tuple[Decimal, Decimal]]) -> Pricing:
    p = Pricing([])
    p.use_catalog({"m": MeterRate.of("m", cast(lava.TierType, tier_type),
                                     cast(RateType, rate_type),
                                     [Tier(s, r) for s, r in tiers])})
    return p


def usage_and_counts(tier_type: str, n: int, secs: Decimal) -> tuple[Usage, charging.Counts]:
    """One response as the sidecar reads it and as the emulator counts it (lava-api.md 4.2)."""
    if tier_type == "characters_1m":
        return Usage(input_characters=n, source="provider"), charging.Counts(input_characters=n)
    if tier_type == "minutes":
        return Usage(audio_seconds=secs, source="provider"), charging.Counts(input_seconds=secs)
    out = n // 3
    return (Usage(input_tokens=n - out, output_tokens=out, source="provider"),
            charging.Counts(input_tokens=n - out, output_tokens=out))


rates = st.decimals(min_value=0, max_value=50, places=7)
starts = st.one_of(st.integers(1, 3_000_000).map(D),
                   st.decimals(min_value=D("0.5"), max_value=40, places=2))
tier_lists = st.lists(st.tuples(starts, rates), max_size=3, unique_by=lambda t: t[0]).flatmap(
    lambda extra: rates.map(lambda first: [(D(0), first), *sorted(extra)]))
requests = st.lists(st.tuples(st.integers(0, 900_000),
                              st.decimals(min_value=0, max_value=600, places=3),
                              st.decimals(min_value=0, max_value=2, places=10)),
                    min_size=1, max_size=25)


@settings(max_examples=300, deadline=None)
@given(rate_type=st.sampled_from(["fixed", "percentage"]), tier_type=st.sampled_from(TIER_TYPES),
       tiers=tier_lists, reqs=requests)
def test_every_charge_equals_the_local_lavas(rate_type: str, tier_type: str,
                                             tiers: list[tuple[Decimal, Decimal]],
                                             reqs: list[tuple[int, Decimal, Decimal]]) -> None:
    meter = lava_meter(rate_type, tier_type, tiers)
    mine = priced(rate_type, tier_type, tiers)
    already = D(0)
    for n, secs, cost in reqs:
        usage, counts = usage_and_counts(tier_type, n, secs)
        billed, used, _ = charging.charge(meter, already, counts, cost)
        already += used
        got = mine.charge("cus_1", "m", usage, provider_cost=cost)
        assert got == billed, (got, billed)


def test_percentage_without_the_provider_cost_is_unknown_but_still_moves_the_tier() -> None:
    tiers = [(D(0), D(20)), (D(1000), D(10))]
    mine = priced("percentage", "tokens_1m", tiers)
    assert mine.charge("c", "m", Usage(input_tokens=1500, source="provider")) is None
    assert mine.position("c", "m") == 1500
    # The next request is priced at the tier reached (10 %), as Lava would.
    assert mine.charge("c", "m", Usage(input_tokens=10, source="provider"),
                       provider_cost=D("0.5")) == D("0.05")
    billed, _, _ = charging.charge(lava_meter("percentage", "tokens_1m", tiers), D(1500),
                                   charging.Counts(input_tokens=10), D("0.5"))
    assert billed == D("0.05")


def test_a_fixed_meter_ignores_a_provider_cost() -> None:
    mine = priced("fixed", "requests", [(D(0), D("0.01"))])
    assert mine.charge("c", "m", Usage(source="provider"), provider_cost=D(9)) == D("0.01")


def test_a_charge_keeps_its_natural_digits_and_rounds_like_lava_only_beyond_ten() -> None:
    mine = priced("fixed", "tokens_1m", [(D(0), D("0.0000001"))])
    # 7 tokens at 1e-7 per 1M = 7e-13: Lava's 10 digits make it 0.
    assert mine.charge("c", "m", Usage(input_tokens=7, source="provider")) == 0
    big = priced("fixed", "tokens_1m", [(D(0), D(5))])
    assert str(big.charge("c", "m", Usage(input_tokens=3_000_000, source="provider"))) == "15"
