"""The soak's reconciliation finds each kind of discrepancy it claims to, and passes a clean run."""

from __future__ import annotations

import dataclasses
from typing import Any

from soak.drive import Sent
from soak.reconcile import Served, reconcile
from soak.workload import Job

A, B = "cus_soak_a", "cus_soak_b"


def job(n: int, customer: str, leave: str = "") -> Job:
    return Job(n, customer, "/v1/chat/completions", False, None, leave)  # type: ignore[arg-type]


def line(rid: str, lava: str | None, customer: str, inp: int = 0, out: int = 0) -> dict[str, Any]:
    return {"request_id": rid, "lava_request_id": lava, "customer": customer, "outcome": "ok",
            "status": 200, "partial": False, "source": "provider", "input_tokens": inp,
            "output_tokens": out, "cache_read_tokens": None, "cache_write_tokens": None,
            "reasoning_tokens": None}


def metrics(tokens: dict[tuple[str, str], int]) -> str:
    rows = ["# HELP lava_sidecar_tokens_total Tokens.", "# TYPE lava_sidecar_tokens_total counter"]
    rows += [f'lava_sidecar_tokens_total{{provider="openai",api="chat",model="m",customer="{c}",'
             f'meter="m",type="{t}"}} {v}.0' for (c, t), v in tokens.items()]
    return "\n".join(rows) + "\n"


def usage(tokens: dict[str, tuple[int, int]]) -> dict[str, Any]:
    return {"customers": {c: {"total": {"input_tokens": i, "output_tokens": o}}
                          for c, (i, o) in tokens.items()}}


def clean() -> tuple[list[Sent], list[Served], list[dict[str, Any]], dict[str, Any], str]:
    sent = [Sent(job(0, A), 200, "sc_0", "req_0", False), Sent(job(1, B), 200, "sc_1", "req_1", False),
            Sent(job(2, A, "before"), 0, None, None, True)]
    served = [Served("req_0", 0, A, True, {"input": 5, "output": 7}),
              Served("req_1", 1, B, True, {"input": 3, "output": 0}),
              Served("req_2", 2, A, False, {})]
    records = [line("sc_0", "req_0", A, 5, 7), line("sc_1", "req_1", B, 3, 0), line("sc_2", None, A)]
    return sent, served, records, usage({A: (5, 7), B: (3, 0)}), \
        metrics({(A, "input"): 5, (A, "output"): 7, (B, "input"): 3})


def test_a_clean_run_reconciles() -> None:
    report = reconcile(*clean())
    assert report.ok
    assert (report.lost, report.duplicated, report.misattributed, report.not_started) == (0, 0, 0, 0)
    assert report.tokens[A]["upstream"]["output"] == 7


def test_a_missing_line_is_lost() -> None:
    sent, served, records, doc, text = clean()
    report = reconcile(sent, served, records[1:], doc, text)
    assert report.lost >= 1
    assert not report.ok


def test_an_unidentified_request_the_gateway_saw_needs_its_line() -> None:
    sent, served, records, doc, text = clean()
    assert reconcile(sent, served, records[:2], doc, text).lost == 1


def test_a_client_gone_before_its_handler_ran_is_not_a_loss() -> None:
    sent, served, records, doc, text = clean()
    report = reconcile(sent, served[:2], records[:2], doc, text)  # never reached the gateway
    assert (report.lost, report.not_started) == (0, 1)
    assert report.ok


def test_a_duplicate_line_is_found() -> None:
    sent, served, records, doc, text = clean()
    assert reconcile(sent, served, [*records, records[0]], doc, text).duplicated == 2  # id and lava id


def test_a_line_for_the_wrong_customer_is_misattributed() -> None:
    sent, served, records, doc, text = clean()
    records[1] = line("sc_1", "req_1", A, 3, 0)
    assert reconcile(sent, served, records, doc, text).misattributed >= 1


def test_a_token_minted_for_the_wrong_customer_is_misattributed() -> None:
    sent, served, records, doc, text = clean()
    served[1] = dataclasses.replace(served[1], customer=A)
    assert reconcile(sent, served, records, doc, text).misattributed >= 1


def test_each_account_is_compared_with_what_was_served() -> None:
    sent, served, records, doc, text = clean()
    for broken in (
        ([*records[:1], line("sc_1", "req_1", B, 2, 0), *records[2:]], doc, text),
        (records, usage({A: (5, 6), B: (3, 0)}), text),
        (records, doc, metrics({(A, "input"): 5, (A, "output"): 7})),
    ):
        report = reconcile(sent, served, *broken)
        assert report.mismatches
        assert not report.ok


def test_an_unplanned_timeout_is_counted_apart_not_hidden() -> None:
    """The gateway finished an answer after the sidecar had timed out on it (a stalled machine):
    the line is partial with what the sidecar saw, the rest is the ``unseen`` row, and the run
    still reconciles; anything else that differs is a problem."""
    sent, served, records, _, _ = clean()
    records[0] = {**line("sc_0", None, A), "outcome": "timeout", "partial": True}
    doc, text = usage({B: (3, 0)}), metrics({(B, "input"): 3})
    report = reconcile(sent, served, records, doc, text)
    assert report.late == 1
    assert report.tokens[A]["unseen"] == {"input": 5, "output": 7, "cache_read": 0, "cache_write": 0,
                                          "reasoning": 0}
    assert report.ok
    records[0] = {**records[0], "outcome": "ok", "partial": False}
    assert not reconcile(sent, served, records, doc, text).ok
