"""bench.lowrate: CPU per request one at a time, as a sidecar beside an app mostly sees them."""

from __future__ import annotations

import pytest

from bench import lowrate


def test_a_small_run_prints_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    # Real processes (the fake upstream, two sidecars, python-floor, nginx); every answer is read
    # whole and must be a 200, or the run stops.
    assert lowrate.main(["--rounds", "1", "--requests", "10", "--gap", "0.001"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:] if line.strip()}
    assert set(rows) == {"this", "this-nolog", "python-floor", "nginx"}
    assert all(float(v[0]) > 0 for v in rows.values())
    assert rows["nginx"][1] == "1.00"
