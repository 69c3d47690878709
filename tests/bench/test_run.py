"""The harness end to end in its smallest mode: every target, every figure, zero errors.

No timing assertions: the figures must exist and the requests must all succeed, nothing more.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report

REPO = Path(__file__).resolve().parents[2]
SIDECARS = ("sidecar-lean", "sidecar-aiohttp", "sidecar-traced", "sidecar-priced",
            "sidecar-quota-memory", "sidecar-quota-redis")
TARGETS = {"direct", "nginx", "python-floor", *SIDECARS}
#: Goals every sidecar has (the Gemini stream's against the chat stream's CPU among them).
GOALS = 10
#: Goals beyond those: each states its feature's cost (tracing against sidecar-lean, Redis
#: quotas against sidecar-priced, the same meter priced without quotas).
EXTRA_GOALS = {"sidecar-traced": 1, "sidecar-quota-redis": 2}


@pytest.mark.slow
@pytest.mark.external
@pytest.mark.timeout(600)
def test_smoke_run_reports_every_figure_for_every_target(tmp_path: Path) -> None:
    missing = [tool for tool in ("h2load", "nginx", "redis-server") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/run installs them)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAVA_")}
    res = subprocess.run([sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=540, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads((tmp_path / "results.json").read_text())

    assert doc["mode"] == "smoke"
    assert doc["failed"] == {}
    assert set(doc["targets"]) == TARGETS
    assert doc["errors_total"] == 0
    # Nothing refused: no app key (x-goog-api-key, key=) reached Lava's forward either.
    assert doc["upstream"]["rejected"] == 0
    assert doc["upstream"]["gemini_streams"] > 0
    for name, fig in doc["targets"].items():
        wanted = report.BASE_FIGURES + (report.PROXY_FIGURES + report.STREAM_CPU_FIGURES
                                        + report.GEMINI_STREAM_CPU_FIGURES if name != "direct" else ())
        assert [k for k in wanted if fig.get(k) is None] == [], name
        assert fig["errors"] == 0, name
        assert fig["usage_chunks_seen"] == 0, name  # the sidecar strips the usage chunk it asked for
        if name != "direct":
            assert fig["streams_held"] == doc["plan"]["hold"], name
    for name in SIDECARS:
        info = doc["targets"][name]["info"]
        # Metering was on: one usage-log line for every request and stream sent through it.
        assert info["usage_log_lines"] == info["requests_sent"] > 0, name
        assert info["metrics_bytes"] > 0, name
        # Every Gemini stream metered exactly: the thoughts billed as output.
        assert info["gemini_usage_lines"] == info["gemini_usage_lines_exact"] \
            == info["gemini_streams_sent"] > 0, name
        # Goals every sidecar has, plus its own (traced: its cost; quota-redis: its cost and p50).
        assert len(doc["goals"][name]) == GOALS + EXTRA_GOALS.get(name, 0), name
        assert all(g["value"] is not None for g in doc["goals"][name] if "LiteLLM" not in g["goal"])
    assert [g["goal"] for g in doc["goals"]["sidecar-quota-redis"][GOALS:]] == [
        "Redis quotas add <= 40 us CPU per request (vs sidecar-priced)",
        "latency c=32 p50 <= 1.5x sidecar-priced"]
    for name in SIDECARS:  # beside the floor: how much of the CPU is the sidecar's own work
        assert doc["ratios"][name]["cpu_per_req_x_floor"] is not None, name
        assert doc["ratios"][name]["cpu_per_stream_x_floor"] is not None, name
    for rnd in doc["rounds"]:
        for phase in ("c1", "load", "streams", "stream_cpu", "gemini_stream_cpu"):
            assert set(rnd[phase]) == TARGETS
    if shutil.which("vmstat"):
        assert doc["vmstat"]["samples"]
    md = (tmp_path / "results.md").read_text()
    assert set(md.splitlines()[0].replace("|", " ").split()) >= TARGETS
    assert "CPU per streamed Gemini completion" in md
    assert "Gemini stream CPU within 10% of the OpenAI chat stream" in md
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Tracing was on and exported: the fake upstream took the OTLP POSTs.
    assert doc["upstream"]["trace_exports"] > 0
    assert "aks_" not in res.stdout + res.stderr + (tmp_path / "results.json").read_text()
