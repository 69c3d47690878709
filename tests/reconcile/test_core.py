"""The join and the report, pure: every kind of disagreement, the window's edges, the tolerance,
and what is counted apart (never sent to Lava, refused by Lava before billing)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from proxy.reconcile import Billed, Kind, Served, Window, reconcile
from proxy.reconcile.render import Inputs, to_json, to_text

T0 = 1_780_000_000.0
D = Decimal
INPUTS = Inputs(("usage.jsonl",), 0, 0, 0, "http://127.0.0.1:1")


def served(n: int, **kw: object) -> Served:
    base = Served(request_id=f"sc_{n}", lava_request_id=f"req_{n}", time=T0 + n, customer="cus_a",
                  meter="chat", input_tokens=10, output_tokens=16, charge=D("0.000078"),
                  partial=False, outcome="ok", status=200)
    return replace(base, **kw)  # type: ignore[arg-type]


def billed(n: int, **kw: object) -> Billed:
    base = Billed(request_id=f"req_{n}", time=T0 + n + 0.5, customer="cus_a", meter="chat",
                  input_tokens=10, output_tokens=16, charge=D("0.0000780000"), status="completed")
    return replace(base, **kw)  # type: ignore[arg-type]


def kinds(report: object) -> list[tuple[Kind, str | None]]:
    return [(f.kind, f.lava_request_id) for f in report.findings]  # type: ignore[attr-defined]


def test_everything_agrees() -> None:
    r = reconcile([served(i) for i in range(5)], [billed(i) for i in range(5)], Window())
    assert r.agrees
    assert r.findings == []
    assert r.matched == 5
    (g,) = r.groups
    assert (g.customer, g.meter, g.sidecar.requests, g.lava.requests) == ("cus_a", "chat", 5, 5)
    assert g.sidecar.output_tokens == g.lava.output_tokens == 80
    assert g.sidecar.charge == g.lava.charge == D("0.00039")
    assert g.agrees


def test_each_kind_of_disagreement_is_named() -> None:
    mine = [served(1, output_tokens=17), served(2), served(3), served(4, customer="cus_b"),
            served(5, charge=D("0.5")), served(6), served(6, request_id="sc_6b")]
    lava = [billed(1), billed(3), billed(4), billed(5), billed(6), billed(7)]
    r = reconcile(mine, lava, Window())
    assert not r.agrees
    assert sorted(kinds(r), key=lambda k: k[1] or "") == [
        (Kind.TOKENS_DIFFER, "req_1"), (Kind.UNKNOWN_TO_LAVA, "req_2"),
        (Kind.ATTRIBUTION_DIFFERS, "req_4"), (Kind.CHARGE_DIFFERS, "req_5"),
        (Kind.DUPLICATE, "req_6"), (Kind.NOT_RECORDED, "req_7")]
    dup = next(f for f in r.findings if f.kind is Kind.DUPLICATE)
    assert dup.sidecar_request_id == "sc_6b"


def test_tolerance_is_per_request_and_per_direction() -> None:
    lava = [billed(1)]
    assert reconcile([served(1, input_tokens=12, output_tokens=14)], lava, Window(),
                     tolerance_tokens=2).agrees
    assert not reconcile([served(1, input_tokens=13)], lava, Window(),
                         tolerance_tokens=2).agrees
    # Within the tolerance the charges differ with the tokens: not a separate disagreement.
    assert reconcile([served(1, output_tokens=17, charge=D("0.000081"))], lava, Window(),
                     tolerance_tokens=1).agrees


def test_partial_and_pending_are_expected_not_errors() -> None:
    mine = [served(1, partial=True, output_tokens=3, outcome="client_disconnect"),
            served(2, partial=True, outcome="upstream_error"), served(3, output_tokens=4)]
    lava = [billed(1), billed(3, status="pending"), billed(4, status="pending")]
    r = reconcile(mine, lava, Window())
    assert r.agrees
    assert sorted(kinds(r), key=lambda k: k[1] or "") == [
        (Kind.PARTIAL, "req_1"), (Kind.PARTIAL, "req_2"), (Kind.PENDING, "req_3"),
        (Kind.PENDING, "req_4")]
    assert all(f.kind.expected for f in r.findings)
    # A partial line that agrees exactly is no finding at all.
    assert reconcile([served(5, partial=True)], [billed(5)], Window()).findings == []


def test_requests_lava_never_billed_are_counted_apart() -> None:
    mine = [served(1, lava_request_id=None, outcome="rejected", status=400, input_tokens=0,
                   output_tokens=0),
            served(2, lava_request_id=None, outcome="upstream_error", status=502,
                   input_tokens=0, output_tokens=0),
            served(3, status=402, input_tokens=0, output_tokens=0, charge=D(0))]
    r = reconcile(mine, [], Window())
    assert r.agrees
    assert r.findings == []
    assert (r.not_sent, r.refused_by_lava, r.matched) == (2, 1, 0)
    assert r.groups == []


def test_the_window_places_a_pair_by_the_sidecars_time() -> None:
    w = Window(T0 + 10, T0 + 20)
    # Lava settled req_19 after the window ended, and req_9's line is from before it began.
    mine = [served(9), served(15), served(19)]
    lava = [billed(9, time=T0 + 10.5), billed(15), billed(19, time=T0 + 25), billed(30)]
    r = reconcile(mine, lava, w)
    assert r.agrees
    assert r.matched == 2
    assert r.findings == []
    assert r.groups[0].lava.requests == 2
    # A record Lava placed inside the window with no line anywhere is a disagreement.
    r = reconcile(mine, [*lava, billed(12)], w)
    assert kinds(r) == [(Kind.NOT_RECORDED, "req_12")]


def test_groups_sum_each_side_under_its_own_attribution() -> None:
    r = reconcile([served(1, customer="cus_a"), served(2, customer="cus_b", charge=None)],
                  [billed(1, customer="cus_b"), billed(2, customer="cus_b")], Window())
    by = {g.customer: g for g in r.groups}
    assert (by["cus_a"].sidecar.requests, by["cus_a"].lava.requests) == (1, 0)
    assert (by["cus_b"].sidecar.requests, by["cus_b"].lava.requests) == (1, 2)
    assert by["cus_b"].sidecar.unpriced == 1


def test_both_renderings_name_the_request() -> None:
    r = reconcile([served(1, output_tokens=99), served(2, partial=True, output_tokens=1)],
                  [billed(1), billed(2)], Window(T0, T0 + 60))
    text = to_text(r, INPUTS)
    assert "req_1" in text
    assert "tokens differ" in text
    assert "sidecar 10 in / 99 out" in text
    assert "1 expected disagreement (not errors)" in text
    assert "req_2" in text
    assert "DISAGREE" in text
    doc = json.loads(to_json(r, INPUTS))
    assert doc["agree"] is False
    assert [d["lava_request_id"] for d in doc["disagreements"]] == ["req_1"]
    assert [d["kind"] for d in doc["expected_disagreements"]] == ["partial"]
    assert doc["groups"][0]["difference"]["output_tokens"] == 99 + 1 - 2 * 16
    assert doc["window"]["since"].endswith("Z")


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.booleans()), max_size=30))
def test_identical_sides_always_agree(rows: list[tuple[int, int, bool]]) -> None:
    mine = [served(i, input_tokens=a, output_tokens=b, charge=None if unpriced else D(a + b))
            for i, (a, b, unpriced) in enumerate(rows)]
    lava = [billed(i, input_tokens=a, output_tokens=b, charge=D(a + b))
            for i, (a, b, _) in enumerate(rows)]
    r = reconcile(mine, lava, Window())
    assert r.agrees
    assert r.matched == len(rows)
    assert all(g.agrees for g in r.groups)


def test_an_unpriced_request_leaves_charges_uncompared_and_both_outputs_say_so() -> None:
    """Issue 23: a sidecar line with no price (its meter not yet listed) printed a charge
    difference of -0.00006 beside ``"sums_equal": true``. Now "equal" means the same in both
    outputs: requests and tokens equal; charges compared only where the sidecar priced every
    request, and where they are not, neither output shows a difference."""
    r = reconcile([served(1, charge=None), served(2)], [billed(1), billed(2)], Window())
    (g,) = r.groups
    assert (g.charges_compared, g.agrees, r.agrees) == (False, True, True)
    doc = json.loads(to_json(r, INPUTS))["groups"][0]
    assert (doc["sums_equal"], doc["charges_compared"]) == (True, False)
    assert doc["difference"]["charge_usd"] is None
    assert doc["sidecar"]["charge_usd"] == "0.000078"  # the priced one; the other is counted
    assert doc["sidecar"]["unpriced_requests"] == 1
    text = to_text(r, INPUTS)
    (diff,) = [line for line in text.splitlines() if " difference " in line]
    assert diff.split()[-2:] == ["not", "compared"]
    assert "-0.0" not in text
    assert "Charges not compared for 1 customer and meter: the sidecar had no price" in text
    assert "(1 unpriced)" in text
    # Every request unpriced: the sidecar's sum is null, as in /usage, not a made-up 0.
    r = reconcile([served(1, charge=None)], [billed(1)], Window())
    assert json.loads(to_json(r, INPUTS))["groups"][0]["sidecar"]["charge_usd"] is None
    assert "null (1 unpriced)" in to_text(r, INPUTS)
    # Priced on both sides: compared, and a difference is shown (and is a disagreement).
    r = reconcile([served(1, charge=D("0.5"))], [billed(1)], Window())
    doc = json.loads(to_json(r, INPUTS))["groups"][0]
    assert (doc["charges_compared"], doc["sums_equal"]) == (True, False)
    assert doc["difference"]["charge_usd"] == "0.499922"


def test_counts_are_written_in_the_right_number() -> None:
    one = to_text(reconcile([served(1)], [billed(1)], Window()),
                  Inputs(("usage.jsonl",), 1, 0, 1, "http://127.0.0.1:1"))
    assert "(1 file, 1 line) against Lava at http://127.0.0.1:1 (1 request record fetched)" in one
    assert "1 request matched." in one
    two = to_text(reconcile([served(1), served(2)], [billed(1), billed(2)], Window()),
                  Inputs(("a", "b"), 2, 0, 2, "http://127.0.0.1:1"))
    assert "(2 files, 2 lines) against Lava at http://127.0.0.1:1 (2 request records fetched)" in two
    assert "2 requests matched." in two
