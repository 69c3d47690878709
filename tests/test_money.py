"""One format for every USD amount the sidecar prints (issue 23): ``proxy.money.usd`` is exact (it
reads back as the same number), never in exponent notation, with at least two decimal places and
no trailing zeros past them; and the usage log, ``/usage``, ``reconcile`` and the billing tables
all print a charge through it, so one charge reads the same in each."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from proxy.billing.output import money as billing_money
from proxy.metering.tally import Tally
from proxy.money import usd
from proxy.reconcile.render import money as reconcile_money
from proxy.usage.base import Usage
from proxy.usagelog.line import encode_line

from .records import make


@given(st.decimals(min_value=Decimal("-1e18"), max_value=Decimal("1e18"), places=10,
                   allow_nan=False, allow_infinity=False))
def test_exact_and_one_form(value: Decimal) -> None:
    text = usd(value)
    assert Decimal(text) == value
    assert re.fullmatch(r"-?\d+\.\d{2,}", text), text
    whole, frac = text.split(".")
    assert len(frac) == 2 or not frac.endswith("0"), text
    assert whole.lstrip("-") == "0" or not whole.lstrip("-").startswith("0"), text
    assert text != "-0.00"


def test_the_same_number_whatever_the_arithmetic_made_of_it() -> None:
    # The forms issue 23 found in one run: all the same charge, or the same kind of charge.
    assert {usd(Decimal(x)) for x in ("0.0000600", "0.00006", "0.0000600000", "6E-5")} == {"0.00006"}
    assert usd(Decimal("17")) == usd(Decimal("17.0000000000")) == "17.00"
    assert usd(Decimal("0")) == usd(Decimal("-0E-10")) == "0.00"


def test_every_output_prints_a_charge_alike() -> None:
    charge = Decimal("0.0002820000")
    rec = make(usage=Usage(input_tokens=40, output_tokens=54, source="provider"))
    line = json.loads(encode_line(rec, charge))
    tally = Tally()
    tally.add(rec, charge)
    assert line["charge_usd"] == tally.to_json()["charge_usd"] == reconcile_money(charge) == \
        billing_money(charge) == "0.000282"
