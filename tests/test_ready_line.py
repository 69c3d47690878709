"""The ready line says where the sidecar listens in both log formats (issue 23: with
``format: text`` it had no addresses, and with port 0 neither format said which port was bound).
A real ``lava-sidecar serve`` on port 0: the line's addresses are the ones that answer."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from .conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_ready_line_names_the_bound_addresses(tmp_path: Path, fmt: str) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(json.dumps({"logging": {"format": fmt}, "usage_log": {"path": ""},
                                  "pricing": {"from_lava": False}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAVA_")}
    env |= {"LAVA_SECRET_KEY": TEST_SECRET, "LAVA_GATEWAY_URL": "http://127.0.0.1:9"}
    proc = subprocess.Popen([sys.executable, "-m", "proxy", "serve", "--config", str(config),
                             "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
                            env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        if fmt == "json":
            doc = json.loads(line)
            assert doc["msg"] == "lava-sidecar ready"
            listen, admin = doc["listen"], doc["admin_listen"]
        else:
            m = re.search(r"INFO lava_sidecar\.server: lava-sidecar ready listen=(\S+) "
                          r"admin_listen=(\S+) gateway=http://127\.0\.0\.1:9 startup_seconds=\S+$",
                          line.rstrip("\n"))
            assert m is not None, line
            listen, admin = m[1], m[2]
        assert not listen.endswith(":0")
        assert not admin.endswith(":0")
        with urllib.request.urlopen(f"http://{admin}/readyz", timeout=10) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"http://{listen}/v1", timeout=10) as resp:
            assert resp.status == 200  # the base-URL probe: the proxy listener is there
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
