"""The command line as a user runs it: a real subprocess, real env, real files."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from proxy import __version__

from .conftest import TEST_SECRET

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LAVA_")}
    return subprocess.run([sys.executable, "-m", "proxy", *args], capture_output=True, text=True,
                          env={**base, **env}, cwd=REPO, timeout=60, check=False)


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"lava-sidecar {__version__}"
    out = run("--help").stdout
    for word in ("serve", "check-config", "token", "OPENAI_BASE_URL", "X-Lava-Customer-Id"):
        assert word in out
    assert "ANTHROPIC_BASE_URL" in run("serve", "--help").stdout
    assert run().returncode == 2


def test_token_prints_a_decodable_forward_token() -> None:
    res = run("token", "--customer", "cus_1", "--meter", "chat", LAVA_SECRET_KEY=TEST_SECRET)
    assert res.returncode == 0, res.stderr
    doc = json.loads(base64.b64decode(res.stdout.strip()))
    assert doc == {"secret_key": TEST_SECRET, "customer_id": "cus_1", "meter_slug": "chat"}


def test_token_refuses_bad_input_without_echoing_the_key() -> None:
    res = run("token", "--customer", "cus_1", LAVA_SECRET_KEY=TEST_SECRET)
    assert res.returncode == 2
    assert "--meter" in res.stderr
    res = run("token", "--customer", "bad id", "--meter", "m", LAVA_SECRET_KEY=TEST_SECRET)
    assert res.returncode == 2
    res = run("token", "--customer", "c", "--meter", "m")
    assert res.returncode == 2
    assert "LAVA_SECRET_KEY" in res.stderr
    assert TEST_SECRET not in res.stdout + res.stderr


def test_check_config(tmp_path: Path) -> None:
    ok = run("check-config", "--config", "config/sidecar.yaml", LAVA_SECRET_KEY=TEST_SECRET)
    assert ok.returncode == 0
    assert "config OK" in ok.stdout
    assert TEST_SECRET not in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: x\ngateway: {url: nope}\nidentity: {unattributed: maybe}\n")
    res = run("check-config", "--config", str(bad), LAVA_SECRET_KEY=TEST_SECRET)
    assert res.returncode == 1
    for key in ("listen:", "gateway.url:", "identity.unattributed:", "3 configuration problem(s)"):
        assert key in res.stderr


def test_check_config_reports_every_quota_problem_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "quotas.yaml"
    bad.write_text("quotas:\n  backend: redis\n  redis: {url: redis://inline:6379}\n"
                   "  default: {requests_per_minute: -1, usd_per_day: lots}\n"
                   "  customers: {'cus bad': {requests_per_minute: 1}}\n")
    res = run("check-config", "--config", str(bad), LAVA_SECRET_KEY=TEST_SECRET)
    assert res.returncode == 1
    for key in ("quotas.redis.url:", "quotas.default.requests_per_minute:",
                "quotas.default.usd_per_day:", "quotas.customers", "4 configuration problem(s)"):
        assert key in res.stderr, res.stderr
    assert "redis://inline" not in res.stderr
