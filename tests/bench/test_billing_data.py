"""``python -m bench.billing_data``: its in-process ``steps`` measure runs and reports what it
measured (the figures themselves are for a person to read, never asserted), and the log it
replays for ``customers`` is one line of ours per customer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.billing_data import write_log
from proxy.usagelog import decode_line

REPO = Path(__file__).resolve().parents[2]


def test_steps_reports_the_walks_and_the_steps_it_timed() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.billing_data", "steps", "--customers",
                          "3000", "--reads", "40"], cwd=REPO, capture_output=True, check=True,
                         timeout=120)
    result = json.loads(out.stdout)["results"]["this"]
    assert (result["customers"], result["reads"]) == (3000, 40)
    assert result["walks"] >= 1  # the first read walked every customer
    steps = result["step_cpu_ms"]
    assert 0 <= steps["p50"] <= steps["p99"] <= steps["max"]


def test_the_replayed_log_has_one_readable_line_per_customer(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    write_log(path, 50)
    records = [decode_line(line) for line in path.read_bytes().splitlines(keepends=True)]
    assert len({r[0].customer_id for r in records if r is not None}) == 50
