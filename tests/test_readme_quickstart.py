"""README's quick start runs as written (issue 23): its bash blocks and its Python snippet, in
README order, in one bash session with a bare environment (no OPENAI_API_KEY or anything else a
developer's shell might lend it), against a fresh local Lava (``dev-gateway --seed``) and a real
``lava-sidecar serve``.

What the test changes, and only that: the fixed ports (8788, 8787, 9464) become free ones (tests
never bind fixed ports), ``pip install .`` is left out (the venv has the package), the block for a
real Lava account (``aks_live_...``) is left out (no account here), and after each command the
README starts with ``&`` the script waits until that server answers, as a person would before
typing the next line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

_WAIT = r"""
wait_http() {  # until $1 answers 200, at most 60 s
  for _ in $(seq 600); do
    if python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" \
        2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "not up: $1" >&2; return 1
}
wait_prices() {  # until the sidecar has listed the seeded meter's price from the local Lava
  for _ in $(seq 600); do
    if python -c "import sys, urllib.request; t = urllib.request.urlopen(sys.argv[1]).read().decode(); \
sys.exit(0 if 'lava_sidecar_price_catalog_meters 1' in t else 1)" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "no prices listed: $1" >&2; return 1
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quick_start_blocks(readme: str) -> list[tuple[str, str]]:
    """(language, text) of each fenced block in the "Quick start" section, in order."""
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(bash|python)\n(.*?)```", section, flags=re.S)


def build_script(blocks: list[tuple[str, str]], tmp: Path, gw: int, px: int, adm: int) -> str:
    lines = ["set -euo pipefail", _WAIT]
    started = set()
    for i, (lang, text) in enumerate(blocks):
        text = (text.replace("127.0.0.1:8788", f"127.0.0.1:{gw}")
                .replace("127.0.0.1:8787", f"127.0.0.1:{px}")
                .replace("0.0.0.0:9464", f"127.0.0.1:{adm}").replace("127.0.0.1:9464", f"127.0.0.1:{adm}"))
        if lang == "python":
            snippet = tmp / f"snippet{i}.py"
            snippet.write_text(text)
            lines.append(f"python {snippet}")
            continue
        if "aks_live_" in text:
            continue  # a real Lava account's key: not here
        for line in text.splitlines():
            command = line.split("  #")[0].strip()
            if not command or command.startswith("pip install"):
                continue
            if command.endswith("&"):
                command = command[:-1].strip()
                name = command.split()[1]
                started.add(name)
                log = tmp / f"{name}.log"
                if name == "dev-gateway":
                    command += f" --listen 127.0.0.1:{gw}"
                    ready = f"wait_http http://127.0.0.1:{gw}/"  # its dashboard
                else:
                    assert name == "serve", line
                    command += f" --listen 127.0.0.1:{px} --admin-listen 127.0.0.1:{adm}"
                    ready = (f"wait_http http://127.0.0.1:{adm}/readyz; "
                             f"wait_prices http://127.0.0.1:{adm}/metrics")
                lines.append(f"{command} > {log} 2>&1 & echo $! >> {tmp / 'pids'}; {ready}")
            else:
                lines.append(command)
    # Both servers come from the README itself, not from the test.
    assert started == {"dev-gateway", "serve"}, started
    return "\n".join(lines) + "\n"


def stop(pids_file: Path) -> None:
    pids = [int(p) for p in pids_file.read_text().split()] if pids_file.exists() else []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_the_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = quick_start_blocks(readme)
    assert [lang for lang, _ in blocks].count("python") == 1
    gw, px, adm = free_port(), free_port(), free_port()
    script = build_script(blocks, tmp_path, gw, px, adm)
    env = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
           "LANG": "C.UTF-8", "TMPDIR": str(tmp_path)}
    try:
        run = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=110, check=False)
        logs = {p.name: p.read_text() for p in tmp_path.glob("*.log")}
        assert run.returncode == 0, (run.stdout, run.stderr, logs)
        # The SDKs' answers (the local Lava's mock providers) were printed.
        assert "Hello from the local Lava gateway" in run.stdout, run.stdout
        # The last command printed the customer's totals: three requests, all measured and priced.
        usage = json.loads(run.stdout[run.stdout.index('{"since"'):].splitlines()[0])
        total = usage["customers"]["cus_123"]["total"]
        assert total["requests"] == 3, total
        assert total["missing_usage"] == 0, total
        assert total["unpriced"] == 0, total
        tokens = total["input_tokens"] + total["output_tokens"]
        assert tokens > 0
        assert Decimal(total["charge_usd"]) == Decimal(tokens) * Decimal("3.00") / 1_000_000
        # The usage log (serve's stdout): one line per request, OpenAI, Anthropic and Gemini.
        lines = [json.loads(x) for x in logs["serve.log"].splitlines() if x.startswith('{"time"')]
        assert sorted(x["provider"] for x in lines) == ["anthropic", "gemini", "openai"]
        assert {(x["customer"], x["meter"], x["outcome"], x["source"]) for x in lines} == {
            ("cus_123", "chat-tokens", "ok", "provider")}
        # What Lava billed agrees: the seeded customer's credit went down by the same charge.
        req = urllib.request.Request(f"http://127.0.0.1:{gw}/v1/customers/cus_123/subscription",
                                     headers={"Authorization": "Bearer aks_test_quickstart"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            credits = json.load(resp)["subscription"]["credits"]
        assert Decimal(credits["total_remaining"]) == Decimal("10") - Decimal(total["charge_usd"])
    finally:
        stop(tmp_path / "pids")


def test_the_usage_line_section_defines_every_field_outcome_and_source() -> None:
    """README's "Usage line" names every field a line has, every outcome and every source, so a
    value in the log is never a word without a definition (issue 23)."""
    from typing import get_args

    from proxy.record import Outcome
    from proxy.usage.base import Source, Usage
    from proxy.usagelog.line import encode_line

    from .records import make

    section = (ROOT / "README.md").read_text().split("\n### Usage line\n", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", section))
    line = json.loads(encode_line(make(usage=Usage(source="provider")), None))
    assert set(line) <= named, set(line) - named
    outcomes = re.findall(r"^\| `([a-z_]+)` \|", section.split("| `outcome` | meaning", 1)[1],
                          flags=re.M)
    assert sorted(outcomes) == sorted(get_args(Outcome))
    assert set(get_args(Source)) <= named
