"""h2load's output read right, and a real fixed-count run against the fake charged to its PID."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import payloads, procfs
from bench.loadgen import h2load, parse_finished, parse_log
from bench.processes import Proc, read_ready_port, spawn

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("text", "seconds", "rps"), [
    ("finished in 473.48ms, 42240.08 req/s, 66.27MB/s\n", 0.47348, 42240.08),
    ("starting\nfinished in 2.01s, 99.50 req/s, 1MB/s\n", 2.01, 99.5),
    ("finished in 950.00us, 10.00 req/s, 1KB/s\n", 0.00095, 10.0),
    ("no summary at all\n", 0.0, 0.0),
])
def test_parse_finished(text: str, seconds: float, rps: float) -> None:
    got = parse_finished(text)
    assert got == (pytest.approx(seconds), pytest.approx(rps))


def test_parse_log_keeps_2xx_latencies_only() -> None:
    rows = [(1, 200, 35), (2, 201, 40), (3, 500, 9), (4, -1, 0), (5, 404, 7)]
    text = "".join(f"{start}\t{status}\t{us}\n" for start, status, us in rows) + "garbage\n"
    n, lat = parse_log(text)
    assert n == len(rows)
    assert lat == tuple(us for _, status, us in rows if 200 <= status < 300)


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[Proc, int]]:
    proc = spawn("upstream", [sys.executable, "-m", "bench.upstream", "--port", "0", "--max-seconds", "120"],
                 log_path=tmp_path / "upstream.log", stdout_pipe=True, cwd=REPO)
    try:
        yield proc, read_ready_port(proc, timeout=15)
    finally:
        proc.stop()
    assert not procfs.alive(proc.pid)


@pytest.mark.external
def test_h2load_run_counts_every_request(upstream: tuple[Proc, int]) -> None:
    if shutil.which("h2load") is None:
        pytest.skip("h2load is not installed (apt-get install nghttp2-client; .ci/run does)")
    proc, port = upstream
    n = 300
    res = h2load(f"http://127.0.0.1:{port}/v1/chat/completions", n=n, c=4,
                 body=payloads.request_body(stream=False), headers=[("X-Test", "1")],
                 pids=proc.pids(), upstream_pids=[], timeout=60)
    assert (res.ok, res.errors, len(res.latencies_us)) == (n, 0, n)
    assert res.rps > 0
    assert res.wall_s > 0
    assert res.cpu_s >= 0
    assert res.upstream_cpu_s == 0
