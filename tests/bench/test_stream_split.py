"""bench.stream_split: the fixed and per-chunk parts of a stream's CPU, from two stream lengths."""

from __future__ import annotations

import pytest

from bench import stream_split


def test_split_solves_the_line_through_both_lengths() -> None:
    fixed, per_chunk = stream_split.split(300.0, 2860.0, 8, 264)
    assert per_chunk == pytest.approx(10.0)
    assert fixed == pytest.approx(220.0)
    assert fixed + 64 * per_chunk == pytest.approx(860.0)


def test_a_small_run_prints_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    # Real processes (the fake upstream, the sidecar, python-floor with and without seeing the
    # body, nginx), a few streams each: every one of them is checked whole, or the run stops
    # with the target's name.
    assert stream_split.main(["--rounds", "1", "--streams", "4", "--short", "2", "--long", "6"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0] for line in out.splitlines()[1:] if line.strip()}
    assert {"this", "python-floor", "floor-sees-body", "nginx"} <= rows
    assert "1.3x nginx's 64-chunk stream is" in out
    assert "With this checkout's fixed part" in out


def test_the_pacing_run_prints_each_spacing(capsys: pytest.CaptureFixture[str]) -> None:
    assert stream_split.main(["--pacing", "--rounds", "1", "--streams", "2", "--short", "2",
                              "--long", "6"]) == 0
    out = capsys.readouterr().out
    assert "back to back" in out
    assert "5 ms apart" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:5]}
    assert set(rows) == {"this", "python-floor", "floor-sees-body", "nginx"}
    assert all(len(v) == 3 and all(float(x) > 0 for x in v) for v in rows.values())
