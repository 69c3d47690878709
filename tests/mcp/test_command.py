"""``lava-sidecar mcp`` as a process: the one-sentence answer without the SDK, argument and config
problems with their keys, and clean stops over stdio (SIGTERM, or stdin closed) that drain the
embedded sidecar and flush its usage log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from proxy.config import load_settings
from proxy.errors import ConfigError
from proxy.mcp.command import MISSING_SDK

from ..conftest import TEST_SECRET
from ..test_cli import REPO, run
from .helpers import write_config

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "0"}}}


def test_without_the_sdk_it_says_what_to_install() -> None:
    # The SDK made unimportable, as in an install without the extra.
    code = ("import sys; sys.modules['mcp'] = None; from proxy.cli import main; "
            "raise SystemExit(main(['mcp']))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "LAVA_SECRET_KEY": TEST_SECRET}, timeout=60, check=False)
    assert res.returncode == 2
    assert res.stderr.strip() == MISSING_SDK
    assert "pip install 'lava-sidecar[mcp]'" in MISSING_SDK
    assert res.stdout == ""


def test_help_and_argument_problems() -> None:
    assert "claude mcp add lava -- lava-sidecar mcp" in run("mcp", "--help").stdout
    res = run("mcp", "--customer", "bad id", "--http", "nowhere", "--sidecar", "ftp://x",
              LAVA_SECRET_KEY=TEST_SECRET)
    assert res.returncode == 2
    for word in ("--customer", "--http", "--sidecar"):
        assert word in res.stderr
    res = run("mcp", "--customer", "cus_1\n", LAVA_SECRET_KEY=TEST_SECRET)  # matched whole
    assert res.returncode == 2
    assert "--customer" in res.stderr
    res = run("mcp")  # no key
    assert res.returncode == 2
    assert "LAVA_SECRET_KEY" in res.stderr


def test_the_mcp_section_is_read_and_checked(tmp_path: Path) -> None:
    env = {"LAVA_SECRET_KEY": TEST_SECRET}
    good = write_config(tmp_path, {"allow_billing_admin": True, "allow_customer_argument": True,
                                   "allowed_origins": ["https://app.example.com"],
                                   "max_argument_bytes": 65536, "timeout_seconds": 30})
    mcp = load_settings(good, env).mcp
    assert (mcp.allow_billing_admin, mcp.allow_customer_argument, mcp.allowed_origins,
            mcp.max_argument_bytes, mcp.timeout) == (True, True, ("https://app.example.com",), 65536, 30.0)
    assert load_settings(None, env).mcp.allow_billing_admin is False
    bad = write_config(tmp_path, {"allow_billing_admin": "yes", "allowed_origins": ["https://a/b", 3],
                                  "max_argument_bytes": 10, "timeout_seconds": 0, "typo": 1})
    with pytest.raises(ConfigError) as info:
        load_settings(bad, env)
    keys = sorted(p.key for p in info.value.problems)
    assert keys == ["mcp.allow_billing_admin", "mcp.allowed_origins[0]", "mcp.allowed_origins[1]",
                    "mcp.max_argument_bytes", "mcp.timeout_seconds", "mcp.typo"]
    res = run("check-config", "--config", str(bad), LAVA_SECRET_KEY=TEST_SECRET)
    assert res.returncode == 1
    assert "mcp.allowed_origins[0]" in res.stdout + res.stderr


def _started(tmp: Path) -> subprocess.Popen[bytes]:
    """A stdio server with an embedded sidecar, past its initialize answer."""
    config = write_config(tmp, limits={"max_body_bytes": 1024 * 1024})
    env = {**os.environ, "LAVA_SECRET_KEY": TEST_SECRET, "LAVA_GATEWAY_URL": "http://127.0.0.1:9",
           "LAVA_SIDECAR_CONFIG": str(config)}
    with (tmp / "err").open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "proxy", "mcp", "--customer", "cus_1", "--meter", "m"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=REPO)
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(json.dumps(INIT).encode() + b"\n")
    proc.stdin.flush()
    answer = json.loads(proc.stdout.readline())
    assert answer["result"]["serverInfo"]["name"] == "lava-sidecar"
    return proc


@pytest.mark.parametrize("how", ["sigterm", "stdin closed"])
def test_stdio_stops_cleanly(tmp_path: Path, how: str) -> None:
    proc = _started(tmp_path)
    assert proc.stdin is not None
    assert proc.stdout is not None
    if how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    else:
        proc.stdin.close()
    assert proc.wait(timeout=20) == 0
    err = (tmp_path / "err").read_text()
    assert "Traceback" not in err
    assert TEST_SECRET not in err
    assert '"msg": "stopped"' in err  # the embedded sidecar drained and closed its usage log
    assert proc.stdout.read() == b""  # nothing but protocol on stdout
    proc.stdin.close()
    proc.stdout.close()


def test_an_oversized_stdio_message_is_dropped_and_the_server_answers_on(tmp_path: Path) -> None:
    proc = _started(tmp_path)
    assert proc.stdin is not None
    assert proc.stdout is not None
    huge = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "login", "arguments": {"pad": "x" * (3 * 1024 * 1024)}}}
    proc.stdin.write(json.dumps(huge).encode() + b"\n")
    proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "ping"}).encode() + b"\n")
    proc.stdin.flush()
    answers = []
    while not answers or answers[-1].get("id") != 3:
        line = proc.stdout.readline()
        assert line, "the server closed its output"
        answers.append(json.loads(line))
    assert answers[-1]["result"] == {}
    assert all(a.get("id") != 2 for a in answers)  # the oversized call never ran
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0
    assert "was dropped" in (tmp_path / "err").read_text()
    proc.stdout.close()
