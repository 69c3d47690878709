"""The soak's SIGKILL phase: its reconciliation tells a lost line from a request the kill cut, and
the phase itself, against real sidecar processes, loses none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from soak.drive import Sent
from soak.killphase import parse, reconcile_kill
from soak.reconcile import Served
from soak.run import Options, run_kill_phase
from soak.workload import Job

A = "cus_soak_a"
KILL_AT = 100.0  # the answers below were seen at 0.0 unless a test says otherwise


def job(n: int) -> Job:
    return Job(n, A, "/v1/chat/completions", False, None, "")


def line(rid: str, lava: str | None) -> dict[str, Any]:
    return {"request_id": rid, "lava_request_id": lava}


def run() -> tuple[list[Sent], list[Served], dict[str, bool]]:
    sent = [Sent(job(0), 200, "sc_0", "req_0", False),                 # answered before the kill
            Sent(job(1), 200, "sc_1", "req_1", True),                  # cut by the kill mid-body
            Sent(job(2), 0, None, None, True, error="refused"),        # sent while it was down
            Sent(job(3), 200, "sc_3", "req_3", False)]                 # after the restart
    served = [Served(f"req_{n}", n, A, True, {}) for n in (0, 1, 3)]
    return sent, served, {"req_0": True, "req_1": True, "req_3": True}


def test_every_answered_request_with_its_line_reconciles() -> None:
    sent, served, complete = run()
    report = reconcile_kill(sent, served, complete, [line("sc_0", "req_0"), line("sc_3", "req_3")],
                            0, {3}, KILL_AT)
    assert report.ok
    assert (report.completed, report.cut_recorded, report.cut_unrecorded) == (2, 0, 2)


def test_an_answer_without_its_line_is_lost() -> None:
    sent, served, complete = run()
    report = reconcile_kill(sent, served, complete, [line("sc_3", "req_3")], 0, {3}, KILL_AT)
    assert report.lost == 1
    assert "sc_0" in report.problems[0]


def test_a_billed_request_whose_line_lacks_the_gateway_id_is_lost() -> None:
    sent, served, complete = run()
    report = reconcile_kill(sent, served, complete, [line("sc_0", None), line("sc_3", "req_3")],
                            0, {3}, KILL_AT)
    assert report.lost == 1


def test_an_answer_seen_just_before_the_kill_races_it() -> None:
    sent, served, complete = run()
    sent[0] = Sent(job(0), 200, "sc_0", "req_0", False, at=KILL_AT - 0.002)
    report = reconcile_kill(sent, served, complete, [line("sc_3", "req_3")], 0, {3}, KILL_AT)
    assert report.ok
    assert (report.racing_unrecorded, report.earliest_unrecorded_ms) == (1, 2.0)
    sent[0] = Sent(job(0), 200, "sc_0", "req_0", False, at=KILL_AT - 0.08)
    report = reconcile_kill(sent, served, complete, [line("sc_3", "req_3")], 0, {3}, KILL_AT)
    assert report.lost == 1


def test_after_the_restart_a_cut_request_still_needs_its_line() -> None:
    sent, served, complete = run()
    sent[3] = Sent(job(3), 200, "sc_3", "req_3", True)
    report = reconcile_kill(sent, served, complete, [line("sc_0", "req_0")], 0, {3}, KILL_AT)
    assert report.lost == 1


def test_a_line_written_twice_and_a_torn_line_are_found() -> None:
    sent, served, complete = run()
    records, torn = parse([b'{"request_id":"sc_0","lava_request_id":"req_0"}\n',
                           b'{"request_id":"sc_0","lava_request_id":"req_0"}\n',
                           b'{"request_id":"sc_3","lava_req', b'{"request_id":"sc_3",'
                           b'"lava_request_id":"req_3"}\n'])
    report = reconcile_kill(sent, served, complete, records, torn, {3}, KILL_AT)
    assert (report.duplicated, report.torn, report.lost) == (2, 1, 0)
    assert not report.ok


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_kill9_and_restart_mid_run_loses_no_line(tmp_path: Path) -> None:
    opts = Options(requests=0, warmup=0, concurrency=24, client="aiohttp", out=tmp_path,
                   max_rss_growth_mb=16.0, kill_requests=400)
    report = await run_kill_phase(opts)
    assert report.problems == []
    assert report.ok
    assert report.cut_unrecorded > 0  # the kill did land on traffic
    assert report.completed > 200
