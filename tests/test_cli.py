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
    for key in ("listen:", "gateway.url:", "identity.unattributed:", "3 configuration problems:"):
        assert key in res.stderr


def test_check_config_reports_every_quota_problem_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "quotas.yaml"
    bad.write_text("quotas:\n  backend: redis\n  redis: {url: redis://inline:6379}\n"
                   "  default: {requests_per_minute: -1, usd_per_day: lots}\n"
                   "  customers: {'cus bad': {requests_per_minute: 1}}\n")
    res = run("check-config", "--config", str(bad), LAVA_SECRET_KEY=TEST_SECRET)
    assert res.returncode == 1
    for key in ("quotas.redis.url:", "quotas.default.requests_per_minute:",
                "quotas.default.usd_per_day:", "quotas.customers", "4 configuration problems:"):
        assert key in res.stderr, res.stderr
    assert "redis://inline" not in res.stderr


def test_check_config_words_a_newcomer_can_act_on(tmp_path: Path) -> None:
    """Issue 23: the type a key needs in words, the near miss named, the allowed values named
    whatever YAML made of the value, every problem in the order of the file, counted in the
    right number, and a syntax error at its file and line."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("listne: 127.0.0.1:8787\n"
                   "usage_log:\n  fsync_interval_seconds: fast\n  max_bytes: 1.5\n  pth: u.jsonl\n"
                   "identity:\n  unattributed: yes\n"
                   "admin_listen: nope\n"
                   "gateway: {client: [lean], conect_retries: 2}\n")
    res = run("check-config", "--config", str(bad), LAVA_SECRET_KEY=TEST_SECRET)
    assert res.returncode == 1
    assert res.stderr.splitlines() == [
        "8 configuration problems:",
        "  - listne: unknown key; did you mean listen? (see config/sidecar.yaml)",
        "  - usage_log.fsync_interval_seconds: must be a number, got the text 'fast'",
        "  - usage_log.max_bytes: must be an integer, got the number 1.5",
        "  - usage_log.pth: unknown key; did you mean path? (see config/sidecar.yaml)",
        "  - identity.unattributed: must be one of reject, merchant, got true (YAML reads an "
        "unquoted yes, no, on or off as true or false: quote it)",
        "  - admin_listen: must be HOST:PORT, got 'nope'",
        "  - gateway.client: must be one of lean, aiohttp, got a list ['lean']",
        "  - gateway.conect_retries: unknown key; did you mean connect_retries? "
        "(see config/sidecar.yaml)",
    ]
    one = tmp_path / "one.yaml"
    one.write_text("listen: [1,\n  b: c\n")
    res = run("check-config", "--config", str(one), LAVA_SECRET_KEY=TEST_SECRET)
    assert res.stderr.splitlines()[:2] == [
        "1 configuration problem:",
        f"  - {one}: not valid YAML at line 3, column 1: did not find expected ',' or ']'"]


def test_billing_help_names_the_local_gateways_default() -> None:
    res = run("billing", "--help")
    assert res.returncode == 0
    assert "the local dev gateway is http://127.0.0.1:8788 by default" in " ".join(res.stdout.split())
    assert "8790" not in res.stdout  # the MCP server's port, not the gateway's
    assert "LAVA_SECRET_KEY_FILE" in res.stdout
